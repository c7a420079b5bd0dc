"""Reading Bot Framework activities: tolerant accessors, the activity's time, and where an
answer to it goes. Shared by the Teams adapter's parsers (messages, invokes, lifecycle)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def reply_to_of(activity: Mapping[str, Any], bot_id: str, activity_id: str) -> dict[str, Any]:
    """Where the answer to ``activity`` goes: its conversation, under ``activity_id``. A
    meeting's chat is a ``groupChat`` conversation like any other, answered in place."""
    conversation = mapping(activity.get("conversation"))
    recipient, sender = mapping(activity.get("recipient")), mapping(activity.get("from"))
    return {
        "service_url": activity.get("serviceUrl"),
        "conversation_id": conversation.get("id"),
        "activity_id": activity_id,
        "bot_id": bot_id,
        "bot_name": recipient.get("name"),
        "user_id": str(sender.get("id") or ""),
        "user_name": sender.get("name"),
        "tenant_id": mapping(mapping(activity.get("channelData")).get("tenant")).get("id"),
        "conversation_type": conversation.get("conversationType"),
    }
