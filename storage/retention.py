"""Data retention: a tenant's ``retention_days`` bounds how long its conversations are kept,
and the platform's settings bound the event stores and the admin audit trail.

The sweep deletes, for one tenant, what is older than the cutoff: messages whose turn is over
(a message still in flight is never deleted, however old), the audit records and dead letters
of that time, the media kept in the blob store (``storage/blobs.py``), the files web visitors
uploaded (``storage/uploads.py``: a widget message names them, and the media processor keeps
its checked copy in the blob store), and conversations with no message since. Events already
published stay in Kafka (its own retention applies there); notes of deleted documents'
unpublished events become orphans that the outbox relay clears.

The event stores go by age for every tenant at once (``EventStoreRetention``): the audit-trail
consumer's ``event_log``, the consumers' ``processed_events`` ledger, the outbound
``webhook_deliveries`` that are finished (delivered, or dead: a pending or failing one is kept
however old), and the ``admin_audit`` trail with the run records, kept longest. Each run
records what it deleted per tenant (``storage/retention_runs.py``) for the compliance report.

This is admin code: it reads the ``tenants`` collection across tenants to find who has a
retention set, then works tenant by tenant with the tenant in every filter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.database import Database

from core.scopes import PLATFORM_TENANT
from core.states import Status
from core.timeutil import utcnow
from storage.admin_audit import COLLECTION as ADMIN_AUDIT
from storage.blobs import BlobStore
from storage.event_ledger import PROCESSED_COLLECTION
from storage.retention_runs import COLLECTION as RUNS
from storage.retention_runs import RetentionRuns
from storage.webhook_deliveries import DEAD, DELIVERED

EVENT_LOG = "event_log"  # consumers/audit_trail.py, a layer above
WEBHOOK_DELIVERIES = "webhook_deliveries"

# A message in one of these is still on its way through the chain: kept however old.
IN_FLIGHT = [
    status.value for status in (Status.ACCEPTED, Status.PROCESSED, Status.GENERATED, Status.SENDING)
]


@dataclass(frozen=True)
class Swept:
    tenant_id: str
    messages: int
    audit: int
    dead_letters: int
    conversations: int
    blobs: int = 0
    uploads: int = 0

    def counts(self) -> dict[str, int]:
        return {name: value for name, value in asdict(self).items() if name != "tenant_id"}


@dataclass(frozen=True)
class EventStoreRetention:
    """Days each store keeps its rows (``PARLEY_RETENTION_*_DAYS``)."""

    event_log_days: int
    processed_events_days: int
    webhook_deliveries_days: int
    audit_days: int


@dataclass(frozen=True)
class RetentionRun:
    at: datetime
    tenants: list[Swept]
    # tenant id (``*`` for rows of no tenant) → store → rows deleted
    event_stores: dict[str, dict[str, int]]


class RetentionSweeper:
    def __init__(self, db: Database[Any], stores: EventStoreRetention | None = None) -> None:
        self._db = db
        self._blobs = BlobStore(db)
        self._stores = stores
        self._runs = RetentionRuns(db)

    def tenants_with_retention(self) -> list[tuple[str, int]]:
        """(tenant id, days) for every tenant with a retention set."""
        found = self._db["tenants"].find(
            {"retention_days": {"$exists": True, "$ne": None}}, {"retention_days": 1}
        )
        return [(doc["_id"], int(doc["retention_days"])) for doc in found]

    def sweep(self, tenant_id: str, cutoff: datetime) -> Swept:
        """Delete the tenant's data older than ``cutoff``; returns how much went."""
        messages = self._db["messages"].delete_many(
            {"tenant_id": tenant_id, "created_at": {"$lt": cutoff}, "status": {"$nin": IN_FLIGHT}}
        )
        audit = self._db["audit"].delete_many(
            {"tenant_id": tenant_id, "created_at": {"$lt": cutoff}}
        )
        dead_letters = self._db["dead_letters"].delete_many(
            {"tenant_id": tenant_id, "created_at": {"$lt": cutoff}}
        )
        uploads = self._db["uploads"].delete_many(
            {"tenant_id": tenant_id, "created_at": {"$lt": cutoff}}
        )
        conversations = self._db["conversations"].delete_many(
            {"tenant_id": tenant_id, "last_message_at": {"$lt": cutoff}}
        )
        return Swept(
            tenant_id,
            messages.deleted_count,
            audit.deleted_count,
            dead_letters.deleted_count,
            conversations.deleted_count,
            self._blobs.delete_older_than(tenant_id, cutoff),
            uploads.deleted_count,
        )

    def sweep_event_stores(
        self, stores: EventStoreRetention, now: datetime
    ) -> dict[str, dict[str, int]]:
        """Delete the event stores' rows past their days; per tenant, what went."""
        deleted: dict[str, dict[str, int]] = {}

        def expire(collection: str, name: str, query: dict[str, Any]) -> None:
            # Not ``distinct``: FerretDB v1 refuses it under a client timeout (``maxTimeMS``).
            found = self._db[collection].find(query, {"tenant_id": 1, "_id": 0})
            for tenant_id in {doc.get("tenant_id") for doc in found}:
                gone = self._db[collection].delete_many({**query, "tenant_id": tenant_id})
                if gone.deleted_count:
                    bucket = deleted.setdefault(str(tenant_id or PLATFORM_TENANT), {})
                    bucket[name] = bucket.get(name, 0) + gone.deleted_count
            rest = self._db[collection].delete_many(query)  # rows without a tenant
            if rest.deleted_count:
                bucket = deleted.setdefault(PLATFORM_TENANT, {})
                bucket[name] = bucket.get(name, 0) + rest.deleted_count

        def before(days: int) -> datetime:
            return now - timedelta(days=days)

        expire(EVENT_LOG, "event_log", {"logged_at": {"$lt": before(stores.event_log_days)}})
        expire(
            PROCESSED_COLLECTION,
            "processed_events",
            {"at": {"$lt": before(stores.processed_events_days)}},
        )
        expire(
            WEBHOOK_DELIVERIES,
            "webhook_deliveries",
            {
                "status": {"$in": [DELIVERED, DEAD]},
                "updated_at": {"$lt": before(stores.webhook_deliveries_days)},
            },
        )
        expire(ADMIN_AUDIT, "admin_audit", {"at": {"$lt": before(stores.audit_days)}})
        self._db[RUNS].delete_many({"at": {"$lt": before(stores.audit_days)}})
        return deleted

    def sweep_all(self) -> RetentionRun:
        """Every tenant's retention, then the event stores'; the run is recorded."""
        now = utcnow()
        tenants = [
            self.sweep(tenant_id, now - timedelta(days=days))
            for tenant_id, days in self.tenants_with_retention()
        ]
        stores = self.sweep_event_stores(self._stores, now) if self._stores else {}
        run = RetentionRun(now, tenants, stores)
        per_tenant = {each.tenant_id: each.counts() for each in tenants}
        for tenant_id, counts in stores.items():
            per_tenant[tenant_id] = {**per_tenant.get(tenant_id, {}), **counts}
        self._runs.record(now, per_tenant)
        return run
