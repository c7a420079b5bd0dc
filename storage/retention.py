"""Data retention: a tenant's ``retention_days`` bounds how long its conversations are kept.

The sweep deletes, for one tenant, what is older than the cutoff: messages whose turn is over
(a message still in flight is never deleted, however old), the audit records and dead letters
of that time, the media kept in the blob store (``storage/blobs.py``), the files web visitors
uploaded (``storage/uploads.py``: a widget message names them, and the media processor keeps
its checked copy in the blob store), and conversations with no message since. Events already
published stay in Kafka (its own retention applies there); notes of deleted documents'
unpublished events become orphans that the outbox relay clears.

This is admin code: it reads the ``tenants`` collection across tenants to find who has a
retention set, then works tenant by tenant with the tenant in every filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.database import Database

from core.states import Status
from core.timeutil import utcnow
from storage.blobs import BlobStore

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


class RetentionSweeper:
    def __init__(self, db: Database[Any]) -> None:
        self._db = db
        self._blobs = BlobStore(db)

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

    def sweep_all(self) -> list[Swept]:
        now = utcnow()
        return [
            self.sweep(tenant_id, now - timedelta(days=days))
            for tenant_id, days in self.tenants_with_retention()
        ]
