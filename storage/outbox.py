"""The transactional outbox: events live inside the document whose change causes them.

MongoDB (and FerretDB) update one document atomically, so an event appended in the same update
as a status change exists exactly when the change does, without multi-document transactions.
``outbox`` keeps the events; ``outbox_pending`` the ids not yet acknowledged by Kafka. The audit
stage publishes a turn's events at once; the beat relay publishes whatever is left.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from core.cloudevents import CloudEvent
from core.timeutil import utcnow
from storage.events import EventPublisher, StagedEvent

log = logging.getLogger("parley.outbox")

OUTBOX_COLLECTIONS = ("messages", "conversations")


def stage(event: CloudEvent) -> dict[str, Any]:
    """An event as stored in a document's outbox: already serialised, so it never changes."""
    return {
        "id": event.id,
        "topic": event.type,
        "key": event.partition_key,
        "value": json.dumps(event.to_dict(), separators=(",", ":")),
    }


def push(events: Iterable[CloudEvent]) -> dict[str, Any]:
    """The update fragment that appends ``events`` to a document's outbox."""
    staged = [stage(event) for event in events]
    return {
        "$push": {
            "outbox": {"$each": staged},
            "outbox_pending": {"$each": [entry["id"] for entry in staged]},
        }
    }


def with_outbox(doc: dict[str, Any], events: Iterable[CloudEvent]) -> dict[str, Any]:
    """A new document carrying ``events`` from its first write."""
    staged = [stage(event) for event in events]
    return {**doc, "outbox": staged, "outbox_pending": [entry["id"] for entry in staged]}


class OutboxRelay:
    """Publishes pending outbox events and marks each one published from its delivery report."""

    def __init__(self, db: Database[Any], publisher: EventPublisher) -> None:
        self._db = db
        self._publisher = publisher

    def publish_documents(
        self, collection: str, docs: Iterable[dict[str, Any]], timeout: float
    ) -> int:
        """Publish the pending events of ``docs``; returns how many Kafka acknowledged."""
        target: Collection[Any] = self._db[collection]
        batch: list[StagedEvent] = []
        for doc in docs:
            pending = set(doc.get("outbox_pending") or ())
            for entry in doc.get("outbox") or ():
                if entry["id"] in pending:
                    batch.append(
                        StagedEvent(
                            entry["id"], entry["topic"], entry["key"], entry["value"], doc["_id"]
                        )
                    )
        if not batch:
            return 0

        def acknowledged(event: StagedEvent) -> None:
            target.update_one({"_id": event.owner}, {"$pull": {"outbox_pending": event.id}})

        return self._publisher.publish_staged(batch, timeout, acknowledged)

    def relay(self, older_than_seconds: float, limit: int, timeout: float) -> int:
        """Publish what the audit stage could not (Kafka down, a crash in between)."""
        cutoff = utcnow() - timedelta(seconds=older_than_seconds)
        published = 0
        for name in OUTBOX_COLLECTIONS:
            docs = list(
                self._db[name]
                .find(
                    {"outbox_pending": {"$exists": True, "$ne": []}, "updated_at": {"$lt": cutoff}},
                    {"outbox": 1, "outbox_pending": 1},
                )
                .limit(limit)
            )
            published += self.publish_documents(name, docs, timeout)
        return published
