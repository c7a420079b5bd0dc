"""The ``audit`` stage: one audit record per turn and the turn's CloudEvents on Kafka."""

from __future__ import annotations

from typing import Any

from core.cloudevents import CloudEvent
from core.states import Status
from storage.messages import Message, reply_id
from tasks.app import app
from tasks.base import StageTask
from tasks.policy import stage_retry
from tasks.runtime import clients

SOURCE = "/parley/pipeline"


def _message_data(message: Message) -> dict[str, Any]:
    return {
        "message_id": message["_id"],
        "conversation_id": message["conversation_id"],
        "channel": message["channel"],
        "direction": message["direction"],
        "user_id": message["user_id"],
        "text": message["text"],
        "status": message["status"],
    }


def turn_events(
    inbound: Message, reply: Message, conversation: dict[str, Any], started: bool
) -> list[CloudEvent]:
    """The facts of one turn, each with an id that is the same however often the stage runs."""
    tenant, conversation_id = inbound["tenant_id"], inbound["conversation_id"]

    def event(event_id: str, kind: str, subject: str, data: dict[str, Any], at: Any) -> CloudEvent:
        return CloudEvent(
            id=event_id,
            type=kind,
            source=SOURCE,
            subject=subject,
            time=at,
            tenant_id=tenant,
            partition_key=conversation_id,
            data=data,
        )

    events: list[CloudEvent] = []
    if started:
        events.append(
            event(
                f"{conversation_id}:started",
                "chat.conversation.started",
                conversation_id,
                {
                    "conversation_id": conversation_id,
                    "channel": conversation["channel"],
                    "user_id": conversation["user_id"],
                },
                conversation["created_at"],
            )
        )
    events.append(
        event(
            f"{inbound['_id']}:received",
            "chat.message.received",
            inbound["_id"],
            _message_data(inbound),
            inbound["created_at"],
        )
    )
    events.append(
        event(
            f"{reply['_id']}:sent",
            "chat.message.sent",
            reply["_id"],
            {**_message_data(reply), "in_reply_to": inbound["_id"]},
            reply["journey"].get(Status.SENT.value, reply["created_at"]),
        )
    )
    events.append(
        event(
            f"{inbound['_id']}:conversation.updated",
            "chat.conversation.updated",
            conversation_id,
            {
                "conversation_id": conversation_id,
                "last_message_id": reply["_id"],
                "state": conversation["state"],
            },
            reply["created_at"],
        )
    )
    return events


@app.task(name="parley.audit", base=StageTask, **stage_retry(max_retries=8))
def audit(tenant_id: str, message_id: str) -> str:
    c = clients()
    inbound = c.messages.find(tenant_id, message_id)
    if inbound is None or inbound["status"] != Status.DELIVERED:
        return message_id
    reply = c.messages.get(tenant_id, reply_id(message_id))
    conversation = c.conversations.get(tenant_id, inbound["conversation_id"])
    c.audit.record_turn(
        tenant_id,
        message_id,
        {
            "conversation_id": inbound["conversation_id"],
            "inbound_id": message_id,
            "reply_id": reply["_id"],
            "channel": inbound["channel"],
            "journey": {**inbound.get("journey", {})},
            "reply_status": reply["status"],
            "engine": reply.get("engine", {}),
        },
    )
    # The conversation's first message started it (whichever of concurrent requests won).
    first = c.messages.page(tenant_id, inbound["conversation_id"], None, 1)
    started = bool(first) and first[0]["_id"] == message_id
    c.events.publish(
        turn_events(inbound, reply, conversation, started),
        c.settings.kafka_publish_timeout_seconds,
    )
    c.messages.advance(tenant_id, message_id, Status.COMPLETED)
    return message_id
