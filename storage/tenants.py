"""Tenants: the businesses Parley hosts, their state and their per-tenant settings.

This is admin code: the ``tenants`` collection is keyed by the tenant id itself, so every query
here is by ``_id`` and none reads another tenant's data on a tenant's behalf. A tenant with no
record is served with the defaults (tokens are signed by the platform, which vouches for the
tenant); a record with ``state: disabled`` switches all of its traffic off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.errors import Conflict, NotFound
from core.timeutil import utcnow
from core.ttl_cache import TtlCache

TenantDocument = dict[str, Any]
ACTIVE, DISABLED = "active", "disabled"
# The settings an operator may set on a tenant (``ingress.tenants_admin`` validates them).
SETTINGS = (
    "rate_limits",
    "quotas",
    "engine",
    "bursts",
    "processing",
    "retention_days",
    "conversation_idle_minutes",
)


class TenantRepository:
    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[Any] = db["tenants"]

    def ensure(self, tenant_id: str, name: str) -> None:
        """Create the tenant if it does not exist; never overwrite an existing one."""
        self._collection.update_one(
            {"_id": tenant_id},
            {"$setOnInsert": {"name": name, "state": ACTIVE, "created_at": utcnow()}},
            upsert=True,
        )

    def create(self, tenant_id: str, name: str, settings: dict[str, Any]) -> TenantDocument:
        """A new active tenant; Conflict when the id is taken (the unique ``_id`` decides)."""
        now = utcnow()
        doc: TenantDocument = {
            "_id": tenant_id,
            "name": name,
            "state": ACTIVE,
            **{k: v for k, v in settings.items() if k in SETTINGS and v is not None},
            "created_at": now,
            "updated_at": now,
        }
        try:
            self._collection.insert_one(doc)
        except DuplicateKeyError:
            raise Conflict(f"tenant {tenant_id} exists already") from None
        return doc

    def get(self, tenant_id: str) -> TenantDocument | None:
        found: TenantDocument | None = self._collection.find_one({"_id": tenant_id})
        return found

    def require(self, tenant_id: str) -> TenantDocument:
        doc = self.get(tenant_id)
        if doc is None:
            raise NotFound(f"tenant {tenant_id} not found")
        return doc

    def list(self, after: str | None, limit: int) -> list[TenantDocument]:
        """Tenants in id order, after the id ``after``."""
        query: dict[str, Any] = {"_id": {"$gt": after}} if after else {}
        return list(self._collection.find(query).sort("_id", 1).limit(limit))

    def overrides(self, setting: str) -> dict[str, Any]:
        """Tenant id → its value, for every tenant that sets ``setting`` (across tenants: for
        beat jobs that apply it)."""
        found = self._collection.find({setting: {"$exists": True, "$ne": None}}, {setting: 1})
        return {doc["_id"]: doc[setting] for doc in found}

    def update(self, tenant_id: str, fields: dict[str, Any]) -> TenantDocument:
        """Sets ``name``, ``state`` and settings; each settings group is replaced whole, and a
        setting given as None is removed (its default applies again)."""
        allowed = {k: v for k, v in fields.items() if k in (*SETTINGS, "name", "state")}
        update: dict[str, Any] = {
            "$set": {
                **{k: v for k, v in allowed.items() if v is not None},
                "updated_at": utcnow(),
            }
        }
        removed = {k: "" for k, v in allowed.items() if v is None and k in SETTINGS}
        if removed:
            update["$unset"] = removed
        result = self._collection.update_one({"_id": tenant_id}, update)
        if result.matched_count != 1:
            raise NotFound(f"tenant {tenant_id} not found")
        return self.require(tenant_id)


@dataclass(frozen=True)
class TenantStatus:
    """What the request path needs to know about a tenant."""

    tenant_id: str
    active: bool
    rate_limits: dict[str, Any]
    quotas: dict[str, Any]
    engine: dict[str, Any] = field(default_factory=dict)
    bursts: dict[str, Any] = field(default_factory=dict)  # over core/bursts.py's defaults
    processing: dict[str, Any] = field(default_factory=dict)  # over processors/config.DEFAULTS


class TenantDirectory:
    """Tenant records cached in-process for ``ttl_seconds``, so a request costs no MongoDB read
    while a change (``disabled``, new limits) is seen within that time, without restarts."""

    def __init__(
        self,
        tenants: TenantRepository,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._tenants = tenants
        self._cache: TtlCache[str, TenantStatus] = TtlCache(ttl_seconds, clock, max_entries)

    def status(self, tenant_id: str) -> TenantStatus:
        return self._cache.get_or_load(tenant_id, lambda: self._load(tenant_id))

    def _load(self, tenant_id: str) -> TenantStatus:
        doc = self._tenants.get(tenant_id) or {}
        engine, processing, bursts = doc.get("engine"), doc.get("processing"), doc.get("bursts")
        return TenantStatus(
            tenant_id=tenant_id,
            active=doc.get("state") != DISABLED,
            rate_limits=dict(doc.get("rate_limits") or {}),
            quotas=dict(doc.get("quotas") or {}),
            engine=dict(engine) if isinstance(engine, dict) else {},
            bursts=dict(bursts) if isinstance(bursts, dict) else {},
            processing=dict(processing) if isinstance(processing, dict) else {},
        )
