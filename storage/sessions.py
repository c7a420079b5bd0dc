"""Conversation sessions in Redis: a small JSON context per conversation, kept alive by a TTL."""

from __future__ import annotations

import json
from typing import Any

import redis

from core.timeutil import isoformat, utcnow

Session = dict[str, Any]


def session_key(tenant_id: str, conversation_id: str) -> str:
    return f"parley:session:{tenant_id}:{conversation_id}"


def language_key(tenant_id: str, conversation_id: str) -> str:
    """The language the conversation's last message was told in: a hint for the next message
    too short to tell (processors/text/language.py). A key of its own, written by the process
    stage after its pipeline, so it never races the session's context written by generate."""
    return f"parley:language:{tenant_id}:{conversation_id}"


def session_keys(tenant_id: str, conversation_id: str) -> list[str]:
    """Every key a conversation's session keeps."""
    return [session_key(tenant_id, conversation_id), language_key(tenant_id, conversation_id)]


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
        return self.refresh_turn(tenant_id, conversation_id, user_id, channel)[0]

    def refresh_turn(
        self, tenant_id: str, conversation_id: str, user_id: str, channel: str
    ) -> tuple[Session, str | None]:
        """``refresh``, and the conversation's language hint read in the same round trip."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(session_key(tenant_id, conversation_id))
        pipe.get(language_key(tenant_id, conversation_id))
        raw, language = pipe.execute()
        session: Session = (
            json.loads(raw)
            if raw is not None
            else {
                "tenant_id": tenant_id,
                "conversation_id": conversation_id,
                "user_id": user_id,
                "channel": channel,
                "started_at": isoformat(utcnow()),
                "context": {},
            }
        )
        session["last_seen_at"] = isoformat(utcnow())
        self.save(session)
        hint = language.decode() if isinstance(language, bytes) else language
        return session, hint

    def remember_language(self, tenant_id: str, conversation_id: str, code: str) -> None:
        """The language the conversation's last message was told in (``language_key``)."""
        self._redis.set(language_key(tenant_id, conversation_id), code, ex=self._ttl)

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
        self._redis.delete(*session_keys(tenant_id, conversation_id))

    def save(self, session: Session) -> None:
        key = session_key(session["tenant_id"], session["conversation_id"])
        self._redis.set(key, json.dumps(session, separators=(",", ":")), ex=self._ttl)
