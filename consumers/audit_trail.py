"""The ``audit_trail`` handler: every Parley event appended to ``event_log``, once per id.

Its effect is its own ledger (consumers/apply.py): one document per event, ``_id`` =
``audit_trail:<event id>``, written by a single upsert that also counts how often it was
applied, so a duplicate application would show as ``applications`` above 1.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pymongo.database import Database

from consumers.handler import Event
from core.timeutil import utcnow
from storage.event_ledger import record_id

EVENT_LOG_COLLECTION = "event_log"


class AuditTrail:
    name: ClassVar[str] = "audit_trail"
    events: ClassVar[tuple[str, ...]] = ("chat.*", "system.*", "integration.*")
    ledger: ClassVar[str | None] = EVENT_LOG_COLLECTION

    def __init__(self, db: Database[Any]) -> None:
        self._log = db[EVENT_LOG_COLLECTION]

    def handle(self, event: Event) -> None:
        self._log.update_one(
            {"_id": record_id(self.name, str(event["id"]))},
            {
                "$setOnInsert": {
                    "handler": self.name,
                    "event_id": event["id"],
                    "type": event.get("type"),
                    "source": event.get("source"),
                    "subject": event.get("subject"),
                    "tenant_id": event.get("tenantid"),
                    "partition_key": event.get("partitionkey"),
                    "time": event.get("time"),
                    "data": event.get("data"),
                    "logged_at": utcnow(),
                },
                "$inc": {"applications": 1},
            },
            upsert=True,
        )

    def forget(self, key: str) -> None:
        """An erased conversation's events leave the log (its id is every chat event's key)."""
        self._log.delete_many({"handler": self.name, "partition_key": key})
