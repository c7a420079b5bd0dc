"""Tenants: the businesses Parley hosts (the admin API that manages them comes later)."""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from core.timeutil import utcnow


class TenantRepository:
    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[Any] = db["tenants"]

    def ensure(self, tenant_id: str, name: str) -> None:
        """Create the tenant if it does not exist; never overwrite an existing one."""
        self._collection.update_one(
            {"_id": tenant_id},
            {"$setOnInsert": {"name": name, "state": "active", "created_at": utcnow()}},
            upsert=True,
        )

    def get(self, tenant_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._collection.find_one({"_id": tenant_id})
        return found
