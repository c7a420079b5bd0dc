"""Open turns: a note per inbound message whose turn has not ended, for the reconciler.

The reconciler must find turns that stopped moving without scanning every message ever stored
(FerretDB v1 scans for any filter but ``_id``, and even MongoDB would walk an index as large as
the collection). So the ingress notes a turn *before* storing its message, and the stage that
ends the turn (completed, failed, dead-lettered) deletes the note after the move. The notes are
as many as the turns in flight; a note left behind by a crash between a move and its delete, or
by a message never stored, is cleared by the reconciler when it looks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.timeutil import utcnow
from storage.by_id import delete_by_id

COLLECTION = "open_turns"


class OpenTurns:
    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[Any] = db[COLLECTION]

    def open(self, tenant_id: str, message_id: str) -> bool:
        """Note the turn as open; False if it already was."""
        try:
            self._collection.insert_one({"_id": message_id, "tenant_id": tenant_id, "at": utcnow()})
        except DuplicateKeyError:
            return False
        return True

    def close_for(self, tenant_id: str, message_id: str) -> None:
        """Close the note of a turn of ``tenant_id`` (none of another tenant's)."""
        delete_by_id(self._collection, message_id, {"tenant_id": tenant_id})

    def is_open(self, message_id: str) -> bool:
        return self._collection.find_one({"_id": message_id}, {"_id": 1}) is not None

    def close(self, message_id: str) -> None:
        self._collection.delete_one({"_id": message_id})

    def opened_before(self, cutoff: datetime, limit: int) -> list[dict[str, Any]]:
        """Notes of turns opened before ``cutoff``, oldest first (the set is small: in flight)."""
        return list(self._collection.find({"at": {"$lt": cutoff}}).sort("at", 1).limit(limit))

    def all_ids(self) -> list[str]:
        """Every open turn's message id (the turns in flight, however many)."""
        return [note["_id"] for note in self._collection.find({}, {"_id": 1})]
