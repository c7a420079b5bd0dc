"""Conversation sessions in Redis: a small JSON context per conversation, kept alive by a TTL."""

from __future__ import annotations

import json
from typing import Any

import redis

from core.timeutil import isoformat, utcnow

Session = dict[str, Any]


def session_key(tenant_id: str, conversation_id: str) -> str:
    return f"parley:session:{tenant_id}:{conversation_id}"


class SessionStore:
    """Load, refresh and update sessions; every key carries the tenant."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds

    def load(self, tenant_id: str, conversation_id: str) -> Session | None:
        raw = self._redis.get(session_key(tenant_id, conversation_id))
        if raw is None:
            return None
        loaded: Session = json.loads(raw)
        return loaded

    def refresh(self, tenant_id: str, conversation_id: str, user_id: str, channel: str) -> Session:
        """Load the session or start one, note this activity and push the expiry out."""
        session = self.load(tenant_id, conversation_id) or {
            "tenant_id": tenant_id,
            "conversation_id": conversation_id,
            "user_id": user_id,
            "channel": channel,
            "started_at": isoformat(utcnow()),
            "context": {},
        }
        session["last_seen_at"] = isoformat(utcnow())
        self.save(session)
        return session

    def apply_context(
        self, tenant_id: str, conversation_id: str, set_values: dict[str, Any], unset: list[str]
    ) -> Session | None:
        """Merge an engine's context update into the session."""
        session = self.load(tenant_id, conversation_id)
        if session is None:
            return None
        context: dict[str, Any] = session.setdefault("context", {})
        context.update(set_values)
        for name in unset:
            context.pop(name, None)
        self.save(session)
        return session

    def clear(self, tenant_id: str, conversation_id: str) -> None:
        """End the session with its conversation."""
        self._redis.delete(session_key(tenant_id, conversation_id))

    def save(self, session: Session) -> None:
        key = session_key(session["tenant_id"], session["conversation_id"])
        self._redis.set(key, json.dumps(session, separators=(",", ":")), ex=self._ttl)
