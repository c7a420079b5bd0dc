"""The ``audit`` stage: one audit record per turn, then the turn's events out of the outbox.

Publishing is best effort here: Kafka being down must not hold up the conversation, and every
event stays in its document's outbox until Kafka acknowledges it; the beat relay sends leftovers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from core.chat_events import conversation_event_ids, conversation_updated
from core.stages import AUDIT
from core.states import Status
from core.timeutil import utcnow
from storage.documents import MessageDocument, OutboxEntry, OutboxOwner
from storage.messages import reply_id
from storage.outbox import stage
from tasks.app import app
from tasks.base import StageTask
from tasks.policy import infrastructure_retry
from tasks.runtime import WorkerClients, clients

log = logging.getLogger("parley.tasks.audit")


@app.task(name=AUDIT.task, base=StageTask, stage=AUDIT.name, **infrastructure_retry())
def audit(tenant_id: str, message_id: str) -> str:
    c = clients()
    inbound = c.messages.find(tenant_id, message_id)
    if inbound is not None and inbound.get("proactive"):
        _audit_proactive(c, inbound)
        return message_id
    if inbound is None or inbound["status"] != AUDIT.before:
        return message_id
    # The reply that answered it: its own, or an earlier message's it was sent together with.
    # (The conversation's activity, the reply, was written with its history by generate.)
    reply = c.messages.find(tenant_id, inbound.get("reply_id", reply_id(message_id)))
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
            # Why the pipeline stopped the turn (answered with the policy's reply), if it did.
            "refused": inbound.get("processing", {}).get("refused", {}).get("reason"),
        },
    )
    # The turn's events so far go out while the turn is still open, so the relay leaves them
    # alone (it publishes an open turn's events only when they wait too long); closing the turn
    # adds the last one, published right after from what this stage wrote (no read). The
    # conversation is read only when one of its own events waits: its first turn's ``started``.
    conversation_id = inbound["conversation_id"]
    unread = (
        conversation_event_ids(conversation_id),
        lambda: c.conversations.find(tenant_id, conversation_id),
    )
    # A burst's reply is its first message's to publish: the audits of the burst's messages
    # run side by side, and two of them would both find its events waiting (docs/bursts.md).
    own = reply if reply is not None and reply.get("in_reply_to") == message_id else None
    _publish(c, message_id, [doc for doc in (inbound, own) if doc], unread=unread)
    updated = conversation_updated(inbound, reply, utcnow())
    if c.messages.advance(tenant_id, message_id, AUDIT.after, events=[updated], current=inbound):
        _publish(c, message_id, noted=[stage(updated)])
    return message_id


def _audit_proactive(c: WorkerClients, message: MessageDocument) -> None:
    """A proactive message's record (docs/outbound.md), and its events out of its outbox."""
    if message["status"] in (Status.GENERATED.value, Status.SENDING.value):
        return  # not sent yet: its deliver stage is still retrying, and runs this stage after
    c.audit.record_turn(
        message["tenant_id"],
        message["_id"],
        {
            "conversation_id": message["conversation_id"],
            "inbound_id": None,
            "reply_id": message["_id"],
            "channel": message["channel"],
            "journey": {**message.get("journey", {})},
            "reply_status": message["status"],
            "engine": {},
            "proactive": True,
            "submitted_by": message.get("submitted_by"),
        },
    )
    _publish(c, message["_id"], [message])


def _publish(
    c: WorkerClients,
    message_id: str,
    docs: Sequence[OutboxOwner] = (),
    noted: Sequence[OutboxEntry] = (),
    unread: tuple[Sequence[str], Callable[[], OutboxOwner | None]] | None = None,
) -> None:
    """Best effort: whatever Kafka does not acknowledge stays noted for the relay. ``docs``:
    their events still pending go out; ``noted``: events of ``message_id`` this stage has just
    noted and written, pending for certain."""
    if not (docs or noted) or c.events.suspect():
        # Kafka just failed to answer: waiting on it for every turn would stall this stage
        # for the whole outage. The events stay noted; the relay publishes them when it can.
        return
    timeout = c.settings.kafka_publish_timeout_seconds
    try:
        if docs:
            c.relay.publish_documents(docs, timeout, unread)
        if noted:
            c.relay.publish_noted(message_id, noted, timeout)
    except Exception:
        log.exception("publishing the events of %s failed; the relay will retry", message_id)
