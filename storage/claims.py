"""Exclusive claims that expire, atomic on MongoDB and FerretDB alike: one unique ``_id`` insert
per (subject, generation).

FerretDB v1 does not apply a conditional update atomically when two requests race
(``storage/by_id.py``), while of several inserts of one ``_id`` exactly one succeeds. So a claim
on a subject (a dead letter's replay, an API key's rotation) is the insert of
``<subject>#<generation>``, generation 0 first. A claim older than ``hold_seconds`` is the trace
of a holder that died between claiming and releasing; it is superseded, never overwritten: the
next claimant inserts the next generation, which again only one racer can do. A superseded
claim stays until its successor is released, so a slow racer that read it cannot claim its
generation a second time.

What expiry cannot rule out: a holder that was not dead but paused for longer than the bound
works on beside its successor. Bounds are therefore far above the work a claim covers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from core.errors import Conflict
from core.timeutil import utcnow

# Each superseded claim is a holder that died; more than this many on one subject is a bug.
MAX_GENERATIONS = 100


@dataclass(frozen=True)
class Claim:
    """A claim held on ``subject``; ``token`` tells this holder from a later one."""

    subject: str
    generation: int
    token: str

    @property
    def id(self) -> str:
        return claim_id(self.subject, self.generation)


def claim_id(subject: str, generation: int) -> str:
    return f"{subject}#{generation}"


class Claims:
    """The claims kept in one collection; ``clock`` is the time claims are dated and aged by."""

    def __init__(
        self,
        collection: Collection[Any],
        hold_seconds: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._collection = collection
        self._hold = timedelta(seconds=hold_seconds)
        self._clock = clock

    def take(self, subject: str, tenant_id: str) -> Claim | None:
        """A claim on ``subject``, or None while another holder's claim is live."""
        now = self._clock()
        for generation in range(MAX_GENERATIONS):
            claim = Claim(subject, generation, secrets.token_hex(8))
            document = {"_id": claim.id, "tenant_id": tenant_id, "token": claim.token, "at": now}
            try:
                self._collection.insert_one(document)
            except DuplicateKeyError:
                held = self._collection.find_one({"_id": claim.id})
                if held is None or held["at"] > now - self._hold:
                    return None  # live (or released this instant, by the one that went ahead)
                continue  # its holder died: supersede it with the next generation
            return claim
        raise Conflict(f"{subject} has {MAX_GENERATIONS} dead claims")

    def release(self, claim: Claim) -> None:
        """Ends ``claim`` and removes the dead claims it superseded. A claim that was itself
        superseded is left for its successor to remove: removing it would free its generation
        while the successor still holds the subject."""
        own = self._collection.find_one({"_id": claim.id})
        if own is None or own["token"] != claim.token:
            return  # superseded, and removed by its successor
        if self._collection.find_one({"_id": claim_id(claim.subject, claim.generation + 1)}):
            return
        # Lowest first: a claimant walks up from generation 0, so until this claim is gone every
        # generation below it stays taken, and no one can claim below a live claim.
        for generation in range(claim.generation):
            self._collection.delete_one({"_id": claim_id(claim.subject, generation)})
        self._collection.delete_one({"_id": claim.id})

    def forget(self, subject: str) -> None:
        """Removes every claim on ``subject`` (the subject itself is gone)."""
        ids = [claim_id(subject, generation) for generation in range(MAX_GENERATIONS)]
        self._collection.delete_many({"_id": {"$in": ids}})
