"""Dead letters: turns that failed for good, one per (message, stage), to list, replay or purge.

A dead letter moves open → replaying → replayed. A turn that fails again after its replay is
recorded onto the same document, which is open again and keeps its ``replays`` count.

A replay is claimed by inserting a document keyed by the dead letter's id into
``dead_letter_claims``: FerretDB v1 does not apply a conditional update atomically when two
requests race, while an insert on a unique ``_id`` is refused for all but one of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.errors import Conflict, NotFound
from core.timeutil import utcnow
from storage.by_id import find_by_id

DeadLetter = dict[str, Any]

# Why the turn gave up; the API filters on it as ``reason``.
CLASSIFICATIONS = ("permanent", "exhausted", "expired", "poison", "engine_unavailable")
# The turn's stages, as in ``tasks.chain.STAGES`` (a test keeps the two equal).
STAGES = ("process", "generate", "deliver", "audit")
OPEN, REPLAYING, REPLAYED = "open", "replaying", "replayed"
STATES = (OPEN, REPLAYING, REPLAYED)
ERROR_MESSAGE_MAX = 500


def id_for(message_id: str, stage: str) -> str:
    """The dead letter's id: recording the same turn's failure at a stage again updates it."""
    return f"dl_{message_id}_{stage}"


class DeadLetterRepository:
    """Tenant-scoped access to the ``dead_letters`` collection."""

    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[Any] = db["dead_letters"]
        self._claims: Collection[Any] = db["dead_letter_claims"]

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
    ) -> DeadLetter:
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
                doc: DeadLetter | None = self._collection.find_one_and_update(
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
    ) -> list[DeadLetter]:
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

    def get(self, tenant_id: str, dead_letter_id: str) -> DeadLetter:
        doc = find_by_id(self._collection, dead_letter_id, {"tenant_id": tenant_id})
        if doc is None:
            raise NotFound(f"dead letter {dead_letter_id} not found")
        return doc

    def claim_replay(self, tenant_id: str, dead_letter_id: str) -> DeadLetter | None:
        """Move an open dead letter to replaying and return it; None if it was not open (or is
        not the tenant's) or another replay holds the claim, so of two concurrent replays only
        one goes ahead."""
        query = {"_id": dead_letter_id, "tenant_id": tenant_id, "state": OPEN}
        if (
            find_by_id(self._collection, dead_letter_id, {"tenant_id": tenant_id, "state": OPEN})
            is None
        ):
            return None
        now = utcnow()
        try:
            self._claims.insert_one({"_id": dead_letter_id, "tenant_id": tenant_id, "at": now})
        except DuplicateKeyError:
            return None
        # Holding the claim we are the only replay; the state may still have moved since the read.
        doc: DeadLetter | None = self._collection.find_one_and_update(
            query,
            {"$set": {"state": REPLAYING, "replay_claimed_at": now, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            self._release(tenant_id, dead_letter_id)
        return doc

    def finish_replay(self, tenant_id: str, dead_letter_id: str, replayed: bool) -> bool:
        """End a claimed replay: replayed, or open again when nothing was enqueued. True if the
        dead letter was still replaying."""
        now = utcnow()
        update: dict[str, Any]
        if replayed:
            update = {
                "$set": {"state": REPLAYED, "replayed_at": now, "updated_at": now},
                "$inc": {"replays": 1},
            }
        else:
            update = {"$set": {"state": OPEN, "updated_at": now}}
        result = self._collection.update_one(
            {"_id": dead_letter_id, "tenant_id": tenant_id, "state": REPLAYING}, update
        )
        self._release(tenant_id, dead_letter_id)
        return result.modified_count == 1

    def purge(self, tenant_id: str, dead_letter_id: str) -> bool:
        """Delete the dead letter; False if the tenant has none with this id."""
        result = self._collection.delete_one({"_id": dead_letter_id, "tenant_id": tenant_id})
        self._release(tenant_id, dead_letter_id)
        return result.deleted_count == 1

    def _release(self, tenant_id: str, dead_letter_id: str) -> None:
        self._claims.delete_one({"_id": dead_letter_id, "tenant_id": tenant_id})
