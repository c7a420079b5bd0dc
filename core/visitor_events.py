"""The events a web visitor's browser reads from its stream, built in one place for every
process that publishes them (``docs/widget-protocol.md``, "Events").

``visitor_message`` is the one shape of a message a browser sees, in events and in history.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.timeutil import isoformat, utcnow

Event = dict[str, Any]


def visitor_message(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored message (or a reply being sent) as the browser sees it."""
    content = doc.get("content") or {}
    parts = doc.get("parts") or []
    if not parts and doc.get("direction") == "outbound" and doc.get("text"):
        parts = [{"type": "text", "text": doc["text"]}]
    return {
        "id": doc["_id"],
        "conversation_id": doc["conversation_id"],
        "direction": doc["direction"],
        "text": doc.get("text", ""),
        "parts": list(parts),
        "attachments": list(content.get("attachments", [])),
        "client_message_id": doc.get("client_message_id"),
        "status": doc["status"],
        "created_at": isoformat(doc.get("created_at")),
    }


def event(kind: str, **fields: Any) -> Event:
    """One event of ``kind``, stamped with the time it was made."""
    return {"type": kind, "ts": isoformat(utcnow()), **fields}


def message_event(doc: Mapping[str, Any]) -> Event:
    return event("message", message=visitor_message(doc))


def status_event(message_id: str, status: str) -> Event:
    """A tick on the visitor's own message: ``received`` once stored, ``read`` when the bot
    starts on it."""
    return event("status", message_id=message_id, status=status)


def conversation_ended_event(conversation_id: str, reason: str) -> Event:
    return event("conversation_ended", conversation_id=conversation_id, reason=reason)
