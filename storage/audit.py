"""Audit records: one per completed turn, written idempotently (keyed by the turn's message id)."""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from core.timeutil import utcnow


class AuditRepository:
    """The ``audit`` collection; re-running the audit stage rewrites nothing."""

    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[Any] = db["audit"]

    def record_turn(self, tenant_id: str, turn_id: str, record: dict[str, Any]) -> None:
        self._collection.update_one(
            {"_id": f"turn:{turn_id}", "tenant_id": tenant_id},
            {"$setOnInsert": {**record, "tenant_id": tenant_id, "created_at": utcnow()}},
            upsert=True,
        )

    def get_turn(self, tenant_id: str, turn_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._collection.find_one(
            {"_id": f"turn:{turn_id}", "tenant_id": tenant_id}
        )
        return found
