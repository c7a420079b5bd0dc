"""Audit records: one per completed turn, written idempotently (keyed by the turn's message id)."""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.timeutil import utcnow
from storage.by_id import find_by_id


class AuditRepository:
    """The ``audit`` collection; re-running the audit stage rewrites nothing."""

    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[Any] = db["audit"]

    def record_turn(self, tenant_id: str, turn_id: str, record: dict[str, Any]) -> None:
        # Keyed by ``_id`` alone: turn ids are unique across tenants, and FerretDB v1 scans
        # the collection for an upsert whose filter has more than ``_id`` (see storage/by_id.py).
        # A concurrent run of the same stage may insert it first: then the record exists.
        with contextlib.suppress(DuplicateKeyError):
            self._collection.update_one(
                {"_id": f"turn:{turn_id}"},
                {"$setOnInsert": {**record, "tenant_id": tenant_id, "created_at": utcnow()}},
                upsert=True,
            )

    def get_turn(self, tenant_id: str, turn_id: str) -> dict[str, Any] | None:
        return find_by_id(self._collection, f"turn:{turn_id}", {"tenant_id": tenant_id})
