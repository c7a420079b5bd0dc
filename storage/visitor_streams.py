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
import re
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

MAX_EVENTS = 500
TTL_SECONDS = 7 * 24 * 3600
FIELD = "e"  # each entry holds one field: the event as JSON, without its ``event_id``
START = "0-0"  # before every entry: a stream that held none when the browser last looked
ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


def stream_key(tenant_id: str, widget_id: str, visitor_id: str) -> str:
    return f"parley:visitor:{tenant_id}:{widget_id}:{visitor_id}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_entry(entry_id: bytes | str, fields: dict[Any, Any]) -> dict[str, Any]:
    """One stream entry as the event the browser gets, its ``event_id`` the entry's id."""
    raw = fields.get(FIELD.encode(), fields.get(FIELD))
    if not isinstance(raw, (bytes, str)):
        raise ValueError(f"stream entry {entry_id!r} holds no event")
    event: dict[str, Any] = json.loads(raw)
    event["event_id"] = _text(entry_id)
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
        return _text(entry_id)

    def last_id(self, tenant_id: str, widget_id: str, visitor_id: str) -> str:
        """The newest entry's id, or ``0-0`` for a stream with none: where a fresh page that
        just fetched its history starts reading."""
        newest = self._redis.xrevrange(stream_key(tenant_id, widget_id, visitor_id), count=1)
        return _text(newest[0][0]) if newest else START


class VisitorStreamReader:
    """Reads one visitor's stream for its sockets (async: the ingress' event loop). Each
    blocking read holds one connection of the pool while it waits."""

    def __init__(self, client: AsyncRedis, block_ms: int = 15_000) -> None:
        self._redis = client
        self._block_ms = block_ms

    async def resume_point(
        self, tenant_id: str, widget_id: str, visitor_id: str, after: str | None
    ) -> tuple[str, bool]:
        """Where a socket starts reading, and whether the browser must resync: after ``after``
        while the stream still holds it (or ``0-0``: everything), else after the newest entry
        (only new events; with a resync when ``after`` was given but is gone)."""
        key = stream_key(tenant_id, widget_id, visitor_id)
        if after == START:
            return START, False
        valid = after is not None and ENTRY_ID.fullmatch(after) is not None
        if after is not None and valid and await self._redis.xrange(key, after, after, count=1):
            return after, False
        newest = await self._redis.xrevrange(key, count=1)
        return (_text(newest[0][0]) if newest else START), after is not None

    async def read(
        self, tenant_id: str, widget_id: str, visitor_id: str, after: str
    ) -> list[dict[str, Any]]:
        """The events after ``after``, oldest first; waits up to the block time for one."""
        key = stream_key(tenant_id, widget_id, visitor_id)
        answer: Any = await self._redis.xread({key: after}, count=100, block=self._block_ms)
        return [
            decode_entry(entry_id, fields) for _, entries in answer for entry_id, fields in entries
        ]
