"""The admin audit trail: one entry per admin action and per security event, insert-only.

An entry says who (the credential's kind and id, never the credential), did what (``action``,
e.g. ``api_key.created``) to what (``target``), for which tenant, with which ``outcome``,
from which address, and a ``detail`` without secrets. Nothing here updates or deletes an
entry, with three exceptions: a failed authentication counts into the entry of its
(credential kind, tenant, address, minute) so a flood writes one row a minute, not one per
request; the retention sweep removes entries past ``PARLEY_RETENTION_AUDIT_DAYS``; and an
erasure removes the entries that name the erased end user (``forget_user``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from pymongo import DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.ids import new_id
from core.timeutil import utcnow

COLLECTION = "admin_audit"
ID_PREFIX = "aud"
AUTH_FAILED = "auth.failed"
END_USER = "end_user"  # the target type of an entry that names an end user (privacy export)
SUCCEEDED, FAILED, DENIED = "succeeded", "failed", "denied"
OUTCOMES = (SUCCEEDED, FAILED, DENIED)


class Actor(TypedDict):
    kind: str  # "api_key", "token", "operator"; for auth.failed the credential's kind
    id: str | None  # a key id or a token's subject; None when nothing authenticated


class Target(TypedDict):
    type: str
    id: str | None


class AuditEntry(TypedDict):
    _id: str
    at: datetime
    tenant_id: str
    actor: Actor
    action: str
    target: Target | None
    outcome: str
    client_ip: str
    detail: dict[str, Any]
    count: int
    bucket: str  # unique: the entry's own id, or an auth-failure bucket


def _safe_key(reason: str) -> str:
    """A reason as a field name: no dots or dollars (MongoDB reads them as paths)."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in reason)[:64] or "unknown"


class AdminAuditLog:
    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[Any] = db[COLLECTION]

    def append(
        self,
        *,
        tenant_id: str,
        actor: Actor,
        action: str,
        target: Target | None,
        outcome: str,
        client_ip: str,
        detail: dict[str, Any],
    ) -> AuditEntry:
        entry_id = new_id(ID_PREFIX)
        entry: AuditEntry = {
            "_id": entry_id,
            "at": utcnow(),
            "tenant_id": tenant_id,
            "actor": actor,
            "action": action,
            "target": target,
            "outcome": outcome,
            "client_ip": client_ip,
            "detail": detail,
            "count": 1,
            "bucket": entry_id,
        }
        self._collection.insert_one(entry)
        return entry

    def count_auth_failure(
        self,
        *,
        tenant_id: str,
        credential: str,
        reason: str,
        client_ip: str,
        at: datetime | None = None,
    ) -> None:
        """One more failed authentication in its minute's entry (created on the first)."""
        at = at or utcnow()
        minute = at.replace(second=0, microsecond=0)
        bucket = f"{AUTH_FAILED}|{credential}|{tenant_id}|{client_ip}|{minute:%Y%m%dT%H%M}"
        update = {
            "$setOnInsert": {
                "_id": new_id(ID_PREFIX),
                "at": at,
                "tenant_id": tenant_id,
                "actor": {"kind": credential, "id": None},
                "action": AUTH_FAILED,
                "target": None,
                "outcome": FAILED,
                "client_ip": client_ip,
                "detail.credential": credential,
            },
            "$inc": {"count": 1, f"detail.reasons.{_safe_key(reason)}": 1},
            "$set": {"last_at": at},
        }
        try:
            self._collection.update_one({"bucket": bucket}, update, upsert=True)
        except DuplicateKeyError:  # another request created the bucket first: count into it
            self._collection.update_one({"bucket": bucket}, update, upsert=True)

    def page(
        self,
        *,
        tenant_id: str | None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> list[AuditEntry]:
        """Up to ``limit`` entries, newest first, with ids below ``before``; ``tenant_id`` None
        is every tenant's (the operator's view)."""
        if limit < 1:
            raise ValueError("limit must be positive")  # pymongo reads 0 as "no limit"
        query: dict[str, Any] = {}
        if tenant_id is not None:
            query["tenant_id"] = tenant_id
        if action is not None:
            query["action"] = action
        if since is not None or until is not None:
            query["at"] = {
                **({"$gte": since} if since else {}),
                **({"$lt": until} if until else {}),
            }
        if before is not None:
            query["_id"] = {"$lt": before}
        return list(self._collection.find(query).sort("_id", DESCENDING).limit(limit))

    def auth_failures(self, tenant_id: str, since: datetime, until: datetime) -> int:
        """How many authentications failed against the tenant's credentials in the period."""
        found = self._collection.find(
            {"tenant_id": tenant_id, "action": AUTH_FAILED, "at": {"$gte": since, "$lt": until}},
            {"count": 1},
        )
        return sum(int(doc.get("count", 1)) for doc in found)

    def forget_user(self, tenant_id: str, user_id: str) -> int:
        """Erasure: the entries that name the end user (their export) go."""
        deleted = self._collection.delete_many(
            {"tenant_id": tenant_id, "target.type": END_USER, "target.id": user_id}
        )
        return deleted.deleted_count
