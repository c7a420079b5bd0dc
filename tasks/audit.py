"""The ``audit`` stage: one audit record per turn, then the turn's events out of the outbox.

Publishing is best effort here: Kafka being down must not hold up the conversation, and every
event stays in its document's outbox until Kafka acknowledges it; the beat relay sends leftovers.
"""

from __future__ import annotations

import logging

from core.events import conversation_updated
from core.states import Status
from core.timeutil import utcnow
from storage.messages import reply_id
from tasks.app import app
from tasks.base import StageTask
from tasks.policy import infrastructure_retry
from tasks.runtime import clients

log = logging.getLogger("parley.tasks.audit")


@app.task(name="parley.audit", base=StageTask, stage="audit", **infrastructure_retry())
def audit(tenant_id: str, message_id: str) -> str:
    c = clients()
    inbound = c.messages.find(tenant_id, message_id)
    if inbound is None or inbound["status"] != Status.DELIVERED:
        return message_id
    reply = c.messages.find(tenant_id, reply_id(message_id))
    conversation = c.conversations.get(tenant_id, inbound["conversation_id"])
    c.audit.record_turn(
        tenant_id,
        message_id,
        {
            "conversation_id": inbound["conversation_id"],
            "inbound_id": message_id,
            "reply_id": reply["_id"] if reply else None,
            "channel": inbound["channel"],
            "journey": {**inbound.get("journey", {})},
            "reply_status": reply["status"] if reply else None,
            "engine": reply.get("engine", {}) if reply else {},
        },
    )
    c.messages.advance(
        tenant_id,
        message_id,
        Status.COMPLETED,
        events=[conversation_updated(inbound, reply, utcnow())],
        current=inbound,
    )
    timeout = c.settings.kafka_publish_timeout_seconds
    # The inbound message again, for the event the move added; the reply is as read above.
    turn = [doc for doc in (c.messages.find(tenant_id, message_id), reply) if doc]
    if c.events.suspect():
        # Kafka just failed to answer: waiting on it for every turn would stall this stage
        # for the whole outage. The events stay noted; the relay publishes them when it can.
        return message_id
    try:
        c.relay.publish_documents("messages", turn, timeout)
        c.relay.publish_documents("conversations", [conversation], timeout)
    except Exception:
        log.exception("publishing the events of %s failed; the relay will retry", message_id)
    return message_id
