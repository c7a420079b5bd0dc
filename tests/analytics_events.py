"""Analytics events as the pipeline publishes them, with the messages stored beside them, for
the analytics handler's and routes' tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.ids import new_id
from core.timeutil import isoformat

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def event(event_type: str, event_id: str, tenant: str, at: datetime, **data: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": event_type,
        "time": isoformat(at),
        "tenantid": tenant,
        "partitionkey": data.get("conversation_id"),
        "data": {"channel": "web", **data},
    }


def turn(
    db: Any, tenant: str, conversation: str, received: datetime, waited_ms: int
) -> list[dict[str, Any]]:
    """An inbound message and its reply stored as the pipeline stores them, and their events."""
    inbound = new_id("msg")
    reply = f"{inbound}.r"
    sent = received + timedelta(milliseconds=waited_ms)
    base = {"tenant_id": tenant, "conversation_id": conversation, "channel": "web", "user_id": "u1"}
    db["messages"].insert_many(
        [
            {
                "_id": inbound,
                **base,
                "direction": "inbound",
                "created_at": received,
                "journey": {"processed": received + timedelta(milliseconds=5)},
            },
            {
                "_id": reply,
                **base,
                "direction": "outbound",
                "in_reply_to": inbound,
                "created_at": received + timedelta(milliseconds=25),
                "journey": {"sent": sent},
            },
        ]
    )
    common = {"conversation_id": conversation}
    return [
        event(
            "chat.message.received",
            f"{inbound}:received",
            tenant,
            received,
            message_id=inbound,
            processing={"language": "en", "sentiment": "positive"},
            **common,
        ),
        # The event's time is a moment before the stored journey.sent; the stored one counts.
        event(
            "chat.message.sent",
            f"{reply}:sent",
            tenant,
            sent - timedelta(milliseconds=1),
            message_id=reply,
            in_reply_to=inbound,
            **common,
        ),
        event(
            "chat.message.delivered", f"{reply}:delivered", tenant, sent, message_id=reply, **common
        ),
    ]


def conversation(
    db: Any, tenant: str, at: datetime, waits: list[int]
) -> tuple[str, list[dict[str, Any]]]:
    """A conversation started at ``at`` with one turn every 10 s, answered after ``waits`` ms."""
    conversation_id = new_id("conv")
    events = [
        event(
            "chat.conversation.started",
            f"{conversation_id}:started",
            tenant,
            at,
            conversation_id=conversation_id,
        )
    ]
    for index, waited in enumerate(waits):
        received = at + timedelta(seconds=10 * index + 1)
        events += turn(db, tenant, conversation_id, received, waited)
    return conversation_id, events
