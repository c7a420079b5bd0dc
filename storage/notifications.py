"""The alerts sent for notification rules: one document per incident of a rule, with what
became of each of its targets, so a tenant sees its alerts (``GET /v1/notifications``) and a
retried incident sends only to the targets that did not get it yet.

The ``_id`` is a digest of the tenant, the rule, the incident's subject and the incident's id,
so recording an incident twice (a redelivered event, a retry) is one document; ``log_id`` is
time-ordered, for the newest-first list.

    a target:  pending ──▶ sent | skipped (its channel is not configured) | refused (permanent)
                  └──▶ failed (transient: tried again with the incident) ──▶ …
    an alert:  sending ──▶ sent (every target settled)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database

from core.ids import new_id
from core.timeutil import utcnow

NotificationDocument = dict[str, Any]
PENDING, SENT, SKIPPED, REFUSED, FAILED = "pending", "sent", "skipped", "refused", "failed"
TARGET_OUTCOMES = (PENDING, SENT, SKIPPED, REFUSED, FAILED)
SETTLED = frozenset({SENT, SKIPPED, REFUSED})
SENDING = "sending"
OUTCOMES = (SENDING, SENT)
COLLECTION = "notifications"


def notification_id(tenant_id: str, rule_id: str, subject: str, incident: str) -> str:
    digest = hashlib.sha256(f"{tenant_id}\0{rule_id}\0{subject}\0{incident}".encode())
    return "ntf_" + digest.hexdigest()[:32]


class NotificationLog:
    """Tenant-scoped access to ``notifications``."""

    def __init__(self, db: Database[Any], clock: Callable[[], datetime] = utcnow) -> None:
        self._collection: Collection[NotificationDocument] = db[COLLECTION]
        self._clock = clock

    def open(
        self,
        *,
        tenant_id: str,
        rule_id: str,
        condition: str,
        subject: str,
        incident: str,
        summary: str,
        targets: list[str],
    ) -> NotificationDocument:
        """The incident's alert, recorded now unless it was before (then as it stands)."""
        _id = notification_id(tenant_id, rule_id, subject, incident)
        now = self._clock()
        self._collection.update_one(
            {"_id": _id},
            {
                "$setOnInsert": {
                    "log_id": new_id("ntf"),
                    "tenant_id": tenant_id,
                    "rule_id": rule_id,
                    "condition": condition,
                    "subject": subject or None,
                    "incident": incident,
                    "summary": summary,
                    "outcome": SENDING,
                    "targets": [{"target": t, "outcome": PENDING} for t in targets],
                    "created_at": now,
                }
            },
            upsert=True,
        )
        doc = self._collection.find_one({"_id": _id})
        assert doc is not None  # just upserted; nothing deletes alerts
        return doc

    def record(
        self, doc: NotificationDocument, index: int, outcome: str, error: str | None
    ) -> None:
        """What became of the alert's target number ``index``."""
        doc["targets"][index].update({"outcome": outcome, "error": error, "at": self._clock()})
        self._collection.update_one({"_id": doc["_id"]}, {"$set": {"targets": doc["targets"]}})

    def settle(self, doc: NotificationDocument) -> None:
        self._collection.update_one({"_id": doc["_id"]}, {"$set": {"outcome": SENT}})

    def page(
        self, tenant_id: str, *, before: str | None = None, limit: int = 50
    ) -> list[NotificationDocument]:
        """Up to ``limit`` of the tenant's alerts, newest first, older than ``before``."""
        if limit < 1:
            raise ValueError("limit must be positive")  # pymongo reads 0 as "no limit"
        query: dict[str, Any] = {"tenant_id": tenant_id}
        if before is not None:
            query["log_id"] = {"$lt": before}
        return list(self._collection.find(query).sort("log_id", DESCENDING).limit(limit))
