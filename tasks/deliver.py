"""The ``deliver`` stage: hand the reply to its channel adapter, part by part, in order.

Each part's provider ids are recorded as soon as the provider answers, so a retry resumes with
the next part instead of sending earlier ones again. A lease keeps a second copy of the task (a
redelivery, a reconciler re-drive) from sending at the same time; replies of one conversation go
out in the order the user wrote; the provider's rate-limit hint replaces the backoff.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from channels.base import RateLimited, SendFailed, SendRejected
from channels.content import degrade_to_text
from channels.registry import adapter_for
from core.chat_events import message_sent, status_reported
from core.envelopes import ChannelConfig, Outbound
from core.stages import DELIVER
from core.states import Status
from core.timeutil import utcnow
from storage.documents import MessageDocument
from storage.errors import LeaseLost
from storage.messages import reply_id
from tasks.app import app
from tasks.base import StageTask
from tasks.calls import calls_of
from tasks.failures import dead_letter, retry_or_dead_letter, wait
from tasks.ordering import pass_stage, ready
from tasks.policy import PACES, delivery_policy, infrastructure_retry
from tasks.runtime import WorkerClients, clients

log = logging.getLogger("parley.tasks.deliver")


def _config(c: WorkerClients, reply: MessageDocument) -> ChannelConfig:
    config_id = reply.get("channel_config_id")
    if config_id is None:  # the API and web channels need no provider account
        return ChannelConfig(
            id="", tenant_id=reply["tenant_id"], channel=reply["channel"], account_id=""
        )
    return c.channel_configs.for_delivery(reply["tenant_id"], config_id)


def _pace(task: Task, c: WorkerClients, config: ChannelConfig, reply_to: dict[str, Any]) -> None:  # type: ignore[type-arg]
    pace = PACES.get(config.channel)
    if pace is None:
        return
    scope = config.account_id if pace.scope == "account" else str(reply_to.get(pace.scope, ""))
    bucket = f"{config.tenant_id}:{config.channel}:{config.account_id}:{scope}"
    delay = c.pacer.take(bucket, pace.rate, pace.burst)
    if delay > 0:
        wait(task, f"pacing {config.channel} {scope}", countdown=delay)


def send_parts(
    task: Task,  # type: ignore[type-arg]
    c: WorkerClients,
    inbound: MessageDocument,
    reply: MessageDocument,
    lease: tuple[str, str, float],
) -> None:
    """Send the parts not sent yet, recording each (the first moves the reply to ``sending``);
    then mark the reply sent (event included). ``lease`` (name, token, time to live) is renewed
    before each part: a copy that stalled past its lease while another took over stops instead
    of sending (``LeaseLost``)."""
    tenant_id = reply["tenant_id"]
    adapter = adapter_for(reply["channel"])
    config = _config(c, reply)
    reply_to = dict(inbound.get("reply_to", {}))
    parts = reply["parts"] or [{"type": "text", "text": reply["text"]}]
    # One send per part, or one for the whole reply where the channel shows it as one (web).
    chunks = [parts] if getattr(adapter, "whole_reply", False) else [[part] for part in parts]
    refusal = c.templates.refusal(config, parts)
    if refusal is not None:  # before any part goes: Graph would refuse it after the others
        raise SendRejected(refusal, code="template")
    delivered = True
    journey = dict(reply.get("journey", {}))
    ids = list(reply.get("provider_message_ids", []))
    first = int(reply.get("sent_parts", 0))
    sent_parts = reply.get("sent_parts")  # as stored: what this copy, under the lease, wrote last
    for index in range(first, len(chunks)):
        if ids and c.reports.furthest(tenant_id, config.id, ids) is Status.FAILED:
            # The provider failed a part already sent: the rest would arrive out of context.
            raise SendRejected(f"the provider reported part {len(ids)} of the reply failed")
        _pace(task, c, config, reply_to)
        if index > first:  # the lease was just taken for the first part
            c.leases.hold(*lease)
        outbound = Outbound(
            tenant_id=tenant_id,
            message_id=reply["_id"],
            conversation_id=reply["conversation_id"],
            recipient=reply["user_id"],
            text=degrade_to_text(chunks[index]),
            parts=chunks[index],
            reply_to=reply_to,
        )
        with calls_of(c.telemetry, tenant_id, reply["channel"], reply["_id"]):
            receipt = adapter.send(outbound, config, c.channels)
        recorded = {"_id": reply["_id"], "tenant_id": tenant_id, "sent_parts": sent_parts}
        sending_at = None
        if Status.SENDING.value not in journey:
            sending_at = journey[Status.SENDING.value] = utcnow()
        c.messages.record_part_sent(
            tenant_id,
            reply["_id"],
            index,
            receipt.provider_message_ids,
            current=recorded,
            sending_at=sending_at,
        )
        sent_parts = index + 1
        ids.extend(receipt.provider_message_ids)
        delivered = delivered and receipt.delivered
    sent: MessageDocument
    if delivered:
        # Delivered on send (no status reports on this channel): nobody else wrote the reply
        # since, and this copy knows what it wrote.
        sent = {
            **reply,
            "status": Status.SENDING.value,
            "journey": journey,
            "provider_message_ids": ids,
            "sent_parts": len(chunks),
        }
    else:
        sent = c.messages.get(tenant_id, reply["_id"])  # fresh: a status report may have moved it
    ids = list(sent.get("provider_message_ids", []))
    now = utcnow()
    fields: dict[str, Any] = {"provider_message_id": ids[0] if ids else None}
    events = [message_sent(sent, ids, now)]
    # Channels without delivery callbacks count an accepted send as delivered; the others
    # may have reported on the parts while the reply was still being sent. Either way the
    # reply moves past ``sent`` in the same write (one note, one update), its journey and
    # events as if it had stopped there.
    reported = Status.DELIVERED if delivered else c.reports.furthest(tenant_id, config.id, ids)
    target = Status.SENT
    if reported is not None:
        target = reported
        error = {"reported": "failed"} if reported is Status.FAILED else None
        if error:
            fields["delivery_error"] = error
        events += status_reported({**sent, "status": Status.SENT.value}, reported, now, error)
    passing = Status.SENT if target is not Status.SENT else None
    c.messages.advance(
        tenant_id, reply["_id"], target, fields, events, current=sent, passing=passing
    )


@app.task(
    name=DELIVER.task, base=StageTask, stage=DELIVER.name, bind=True, **infrastructure_retry()
)
def deliver(self: Task, tenant_id: str, message_id: str) -> str:  # type: ignore[type-arg]
    c = clients()
    message = c.messages.find(tenant_id, message_id)
    # A proactive message (POST /v1/outbound, docs/outbound.md) is its own reply, in no turn's
    # order: it goes out as soon as it is queued.
    proactive = message is not None and bool(message.get("proactive"))
    if message is None or not (proactive or ready(self, c, message, DELIVER.name)):
        return message_id  # gone, not generated yet, parked, or delivered already
    rid = message_id if proactive else reply_id(message_id)
    if message.get("reply_id", rid) != rid:
        # Answered together with an earlier message (docs/bursts.md), whose turn passed this
        # stage first, sending the reply that answers both: nothing is left to send.
        c.messages.advance(tenant_id, message_id, Status.DELIVERED, current=message)
        pass_stage(c, tenant_id, message["conversation_id"], message_id, DELIVER.name)
        return message_id
    # The inbound is generated and not delivered: its reply is still to send (or was sent by a
    # copy that stopped before moving the inbound on). It is read once, under the send lease.
    lease_name = f"deliver:{tenant_id}:{rid}"
    lease_ttl = c.settings.channel_send_timeout_seconds * 4
    lease = c.leases.acquire(lease_name, lease_ttl)
    if lease is None:
        wait(self, f"another worker is delivering {rid}", 1.0)
    try:
        reply = c.messages.get(tenant_id, rid)  # fresh, under the lease
        if reply["status"] in (Status.GENERATED, Status.SENDING):
            send_parts(self, c, message, reply, (lease_name, lease, lease_ttl))
    except LeaseLost:
        log.warning("lost the lease on %s while sending it; its new holder goes on", rid)
        return message_id
    except SendRejected as exc:
        failure = {"code": exc.code, "message": str(exc)[:500]}
        c.messages.advance(tenant_id, rid, Status.FAILED, {"delivery_error": failure})
        dead_letter(c, message, DELIVER.name, exc, "permanent", 1)
        return message_id
    except (RateLimited, SendFailed) as exc:
        hint = exc.retry_after if isinstance(exc, RateLimited) else None
        policy = delivery_policy(message["channel"], c.settings.delivery_max_attempts)
        throttled = isinstance(exc, RateLimited)
        if retry_or_dead_letter(self, c, message, DELIVER.name, policy, exc, hint, throttled):
            c.messages.advance(tenant_id, rid, Status.FAILED, {"delivery_error": str(exc)})
        return message_id  # dead-lettered, or the next attempt is the reconciler's
    finally:
        c.leases.release(lease_name, lease)
    if proactive:
        # Sent: nothing is left for the reconciler to re-drive (its audit comes next, and
        # what that stage does not publish, the relay does once the turn is closed).
        c.messages.close_turn(tenant_id, message_id)
        return message_id
    c.messages.advance(tenant_id, message_id, Status.DELIVERED, current=message)
    pass_stage(c, tenant_id, message["conversation_id"], message_id, DELIVER.name)
    return message_id
