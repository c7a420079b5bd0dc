"""What the event consumers remember in MongoDB: the event ids each handler applied, and the
dead-letter records already replayed.

A processed-id record is one document ``_id`` = ``<handler>:<event id>``, so "has this handler
applied this event" is one ``_id`` read and a record is written at most once (unique ``_id``).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.timeutil import utcnow

PROCESSED_COLLECTION = "processed_events"
REPLAYS_COLLECTION = "event_dlq_replays"


def record_id(handler: str, event_id: str) -> str:
    return f"{handler}:{event_id}"


class ProcessedEvents:
    """The ids a handler applied, in ``ledger`` (``processed_events`` unless the handler's own
    effect documents are its records)."""

    def __init__(self, db: Database[Any], ledger: str | None = None) -> None:
        self._collection: Collection[Any] = db[ledger or PROCESSED_COLLECTION]

    def seen(self, handler: str, event_id: str) -> bool:
        key = record_id(handler, event_id)
        return self._collection.find_one({"_id": key}, {"_id": 1}) is not None

    def record(self, handler: str, event_id: str, event_type: str) -> None:
        doc = {
            "_id": record_id(handler, event_id),
            "handler": handler,
            "event_id": event_id,
            "type": event_type,
            "at": utcnow(),
        }
        with suppress(DuplicateKeyError):  # recorded by an earlier delivery: the same fact
            self._collection.insert_one(doc)


class DeadLetterReplays:
    """Which dead-letter records (by topic, partition and offset) were replayed, and how."""

    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[Any] = db[REPLAYS_COLLECTION]

    @staticmethod
    def key(topic: str, partition: int, offset: int) -> str:
        return f"{topic}:{partition}:{offset}"

    def mark(self, topic: str, partition: int, offset: int, handler: str, outcome: str) -> None:
        self._collection.update_one(
            {"_id": self.key(topic, partition, offset)},
            {"$set": {"topic": topic, "handler": handler, "outcome": outcome, "at": utcnow()}},
            upsert=True,
        )

    def replayed(self, topic: str) -> set[str]:
        """The keys of ``topic``'s replayed records."""
        return {doc["_id"] for doc in self._collection.find({"topic": topic}, {"_id": 1})}
