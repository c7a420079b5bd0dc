"""A tenant's compliance figures for a period, counted from what the stores recorded.

- retention: the runs of the retention sweep in the period and what each store gave up
  (``storage/retention_runs.py``);
- erasures: the erasure receipts made in the period and the messages and conversations they
  erased (``storage/erasures.py``);
- PII redactions: the period's messages the safety processor redacted personal data in
  (``processing.safety.flags`` with action ``redact`` in a PII category), and the redactions per
  category — counted over the messages still kept, so not those retention deleted since;
- auth failures: the failed authentications counted against the tenant's credentials
  (``auth.failed`` in ``storage/admin_audit.py``).

Every metric is always present, zero when nothing happened; the order is the report's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database

from storage.admin_audit import AdminAuditLog
from storage.erasures import COLLECTION as ERASURES
from storage.retention_runs import RetentionRuns

PII_CATEGORIES = ("card", "iban", "email", "phone")
RETAINED_STORES = (
    "messages",
    "conversations",
    "audit",
    "dead_letters",
    "blobs",
    "uploads",
    "event_log",
    "webhook_deliveries",
    "admin_audit",
)
METRICS = (
    "retention_runs",
    *(f"retention_deleted_{store}" for store in RETAINED_STORES),
    "erasures",
    "erased_conversations",
    "erased_messages",
    "pii_redacted_messages",
    *(f"pii_redactions_{category}" for category in PII_CATEGORIES),
    "auth_failures",
)


class ComplianceFigures:
    def __init__(self, db: Database[Any]) -> None:
        self._db = db

    def report(self, tenant_id: str, since: datetime, until: datetime) -> dict[str, int]:
        """Every metric of ``METRICS`` for the tenant, over ``[since, until)``."""
        figures = dict.fromkeys(METRICS, 0)
        runs, deleted = RetentionRuns(self._db).totals(tenant_id, since, until)
        figures["retention_runs"] = runs
        for store in RETAINED_STORES:
            figures[f"retention_deleted_{store}"] = deleted.get(store, 0)
        period = {"tenant_id": tenant_id, "created_at": {"$gte": since, "$lt": until}}
        for receipt in self._db[ERASURES].find(period, {"erased": 1}):
            figures["erasures"] += 1
            erased = receipt.get("erased", {})
            figures["erased_conversations"] += int(erased.get("conversations", 0))
            figures["erased_messages"] += int(erased.get("messages", 0))
        redacting = {**period, "processing.safety.action": {"$in": ["redact", "block"]}}
        for message in self._db["messages"].find(redacting, {"processing.safety.flags": 1}):
            flags = message.get("processing", {}).get("safety", {}).get("flags", [])
            pii = [
                flag["category"]
                for flag in flags
                if flag.get("action") == "redact" and flag.get("category") in PII_CATEGORIES
            ]
            if pii:
                figures["pii_redacted_messages"] += 1
            for category in pii:
                figures[f"pii_redactions_{category}"] += 1
        figures["auth_failures"] = AdminAuditLog(self._db).auth_failures(tenant_id, since, until)
        return figures
