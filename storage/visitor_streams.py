"""Each web visitor's event stream: one Redis Stream per (tenant, widget, visitor).

Whatever a visitor's browser must see — its own messages echoed to its other tabs, the bot's
typing, text deltas and replies, status ticks, a conversation's end — is appended here by the
process that knows it (the ingress, a worker); every ingress process holding a socket of that
visitor reads it, so a reply reaches the browser whichever process holds the socket, and a
reconnecting browser resumes after the last entry id it saw. The wire shapes of the events are in
``docs/widget-protocol.md``.

The stream keeps its last ``MAX_EVENTS`` entries and lives ``TTL_SECONDS`` after the last one.
"""

from __future__ import annotations

import json
from typing import Any

from redis import Redis

MAX_EVENTS = 500
TTL_SECONDS = 7 * 24 * 3600
FIELD = "e"  # each entry holds one field: the event as JSON, without its ``event_id``


def stream_key(tenant_id: str, widget_id: str, visitor_id: str) -> str:
    return f"parley:visitor:{tenant_id}:{widget_id}:{visitor_id}"


def decode_entry(entry_id: bytes | str, fields: dict[Any, Any]) -> dict[str, Any]:
    """One stream entry as the event the browser gets, its ``event_id`` the entry's id."""
    raw = fields.get(FIELD.encode(), fields.get(FIELD))
    if not isinstance(raw, (bytes, str)):
        raise ValueError(f"stream entry {entry_id!r} holds no event")
    event: dict[str, Any] = json.loads(raw)
    event["event_id"] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return event


class VisitorStreams:
    """Appends to visitors' streams (sync: the workers and the ingress' thread pool)."""

    def __init__(self, client: Redis) -> None:
        self._redis = client

    def publish(
        self, tenant_id: str, widget_id: str, visitor_id: str, event: dict[str, Any]
    ) -> str:
        """Append one event; returns its id (the ``event_id`` the browser sees)."""
        key = stream_key(tenant_id, widget_id, visitor_id)
        body = json.dumps(event, separators=(",", ":"), default=str)
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(key, {FIELD: body}, maxlen=MAX_EVENTS, approximate=True)
        pipe.expire(key, TTL_SECONDS)
        entry_id, _ = pipe.execute()
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def last_id(self, tenant_id: str, widget_id: str, visitor_id: str) -> str:
        """The newest entry's id, or ``0-0`` for a stream with none: where a fresh page that
        just fetched its history starts reading."""
        newest = self._redis.xrevrange(stream_key(tenant_id, widget_id, visitor_id), count=1)
        if not newest:
            return "0-0"
        entry_id = newest[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
