"""Dead letters: turns that failed for good, one per (message, stage), to list, replay or purge.

A dead letter moves open → replaying → replayed. A turn that fails again after its replay is
recorded onto the same document, which is open again and keeps its ``replays`` count.

A replay is claimed in ``dead_letter_claims`` (``storage.claims``: unique-``_id`` inserts, which
FerretDB v1 makes atomic where it does not a conditional update). A claim expires after
``REPLAY_CLAIM_SECONDS``: a replay that died between claiming and finishing leaves the dead
letter replaying, and a later replay takes it over instead of being refused for ever. The claim's
token is written on the dead letter, so a replay that outlived its claim cannot finish over its
successor's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.errors import Conflict, NotFound
from core.stages import NAMES
from core.timeutil import utcnow
from storage.by_id import find_by_id, find_one_and_update_by_id, update_by_id
from storage.claims import Claim, Claims
from storage.documents import DeadLetterDocument

# Why the turn gave up; the API filters on it as ``reason``.
CLASSIFICATIONS = ("permanent", "exhausted", "expired", "poison", "engine_unavailable")
# A turn may fail for good at any of its stages.
STAGES = NAMES
OPEN, REPLAYING, REPLAYED = "open", "replaying", "replayed"
STATES = (OPEN, REPLAYING, REPLAYED)
ERROR_MESSAGE_MAX = 500
# A replay is one request's work (rewind the turn, enqueue it: milliseconds); a claim this old
# belongs to a replay that died.
REPLAY_CLAIM_SECONDS = 60.0


def id_for(message_id: str, stage: str) -> str:
    """The dead letter's id: recording the same turn's failure at a stage again updates it."""
    return f"dl_{message_id}_{stage}"


class DeadLetterRepository:
    """Tenant-scoped access to the ``dead_letters`` collection."""

    def __init__(self, db: Database[Any], clock: Callable[[], datetime] = utcnow) -> None:
        self._collection: Collection[DeadLetterDocument] = db["dead_letters"]
        self._claims = Claims(db["dead_letter_claims"], REPLAY_CLAIM_SECONDS, clock)
        self._clock = clock

    def record(
        self,
        *,
        tenant_id: str,
        message_id: str,
        conversation_id: str,
        channel: str,
        stage: str,
        attempts: int,
        error_type: str,
        error_message: str,
        classification: str,
        at: datetime,
    ) -> DeadLetterDocument:
        """Store the turn's failure at ``stage``, or update the one stored before; it is open."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        if classification not in CLASSIFICATIONS:
            raise ValueError(f"unknown classification {classification!r}")
        now = utcnow()
        dead_letter_id = id_for(message_id, stage)
        query = {"_id": dead_letter_id, "tenant_id": tenant_id}
        update = {
            "$setOnInsert": {
                "tenant_id": tenant_id,
                "message_id": message_id,
                "conversation_id": conversation_id,
                "channel": channel,
                "stage": stage,
                "first_attempt_at": at,
                "replays": 0,
                "created_at": now,
            },
            "$set": {
                "attempts": attempts,
                "last_error": {
                    "type": error_type,
                    "message": error_message[:ERROR_MESSAGE_MAX],
                    "classification": classification,
                },
                "last_attempt_at": at,
                "state": OPEN,
                "updated_at": now,
            },
        }
        for _ in range(3):
            try:
                doc = self._collection.find_one_and_update(
                    query, update, upsert=True, return_document=ReturnDocument.AFTER
                )
            except DuplicateKeyError:
                continue  # a concurrent first record inserted it: the retry updates that one
            if doc is not None:
                return doc
        raise Conflict(f"dead letter {dead_letter_id} could not be recorded")

    def list(
        self,
        tenant_id: str,
        *,
        channel: str | None = None,
        stage: str | None = None,
        reason: str | None = None,
        state: str | None = OPEN,
        after: str | None = None,
        limit: int = 50,
    ) -> list[DeadLetterDocument]:
        """Up to ``limit`` dead letters after the id ``after``, in id order; ``state=None`` means
        every state."""
        if limit < 1:
            raise ValueError("limit must be positive")  # pymongo reads 0 as "no limit"
        query: dict[str, Any] = {"tenant_id": tenant_id}
        filters = {
            "channel": channel,
            "stage": stage,
            "last_error.classification": reason,
            "state": state,
        }
        query.update({field: value for field, value in filters.items() if value is not None})
        if after is not None:
            query["_id"] = {"$gt": after}
        return list(self._collection.find(query).sort("_id", ASCENDING).limit(limit))

    def get(self, tenant_id: str, dead_letter_id: str) -> DeadLetterDocument:
        doc = find_by_id(self._collection, dead_letter_id, {"tenant_id": tenant_id})
        if doc is None:
            raise NotFound(f"dead letter {dead_letter_id} not found")
        return doc

    def claim_replay(self, tenant_id: str, dead_letter_id: str) -> DeadLetterDocument | None:
        """Move an open dead letter (or one whose replay died) to replaying and return it; None
        if it is not replayable (or not the tenant's) or another replay holds the claim, so of
        two concurrent replays only one goes ahead. Pass the result to ``finish_replay``."""
        current = find_by_id(self._collection, dead_letter_id, {"tenant_id": tenant_id})
        if current is None or not self._replayable(current):
            return None
        claim = self._claims.take(dead_letter_id, tenant_id)
        if claim is None:
            return None
        # Holding the claim we are the only replay; the state may still have moved since the read.
        now = self._clock()
        doc = find_one_and_update_by_id(
            self._collection,
            dead_letter_id,
            {"tenant_id": tenant_id, "state": {"$in": [OPEN, REPLAYING]}},
            {
                "$set": {
                    "state": REPLAYING,
                    "replay_claim": {"generation": claim.generation, "token": claim.token},
                    "replay_claimed_at": now,
                    "updated_at": now,
                }
            },
        )
        if doc is None:
            self._claims.release(claim)
        return doc

    def _replayable(self, doc: DeadLetterDocument) -> bool:
        if doc["state"] == OPEN:
            return True
        claimed_at = doc.get("replay_claimed_at")
        stale = self._clock() - timedelta(seconds=REPLAY_CLAIM_SECONDS)
        return doc["state"] == REPLAYING and (claimed_at is None or claimed_at <= stale)

    def finish_replay(self, tenant_id: str, claimed: DeadLetterDocument, replayed: bool) -> bool:
        """End the replay ``claim_replay`` returned: replayed, or open again when nothing was
        enqueued. False (and nothing changed) if the dead letter is no longer this replay's."""
        now = self._clock()
        update: dict[str, Any]
        if replayed:
            update = {
                "$set": {"state": REPLAYED, "replayed_at": now, "updated_at": now},
                "$inc": {"replays": 1},
            }
        else:
            update = {"$set": {"state": OPEN, "updated_at": now}}
        update["$unset"] = {"replay_claim": ""}
        claim = _claim_of(claimed)
        finished = update_by_id(
            self._collection,
            claimed["_id"],
            {"tenant_id": tenant_id, "state": REPLAYING, "replay_claim.token": claim.token},
            update,
        )
        self._claims.release(claim)
        return finished

    def purge(self, tenant_id: str, dead_letter_id: str) -> bool:
        """Delete the dead letter; False if the tenant has none with this id."""
        result = self._collection.delete_one({"_id": dead_letter_id, "tenant_id": tenant_id})
        if result.deleted_count == 1:
            self._claims.forget(dead_letter_id)
        return result.deleted_count == 1


def _claim_of(claimed: DeadLetterDocument) -> Claim:
    held = claimed["replay_claim"]
    return Claim(claimed["_id"], int(held["generation"]), str(held["token"]))
