"""The ``deliver`` stage: hand the reply to its channel adapter, record what the provider said.

A provider's rate-limit hint overrides the backoff; a permanent refusal marks the reply failed
with the provider's code and ends the turn (dead letters and the full policy come later).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from channels.base import ChannelConfig, Outbound, RateLimited, SendRejected
from channels.registry import adapter_for
from core.states import Status
from storage.messages import Message, reply_id
from tasks.app import app
from tasks.base import StageTask
from tasks.policy import stage_retry
from tasks.runtime import WorkerClients, clients

log = logging.getLogger("parley.tasks.deliver")


def _config(c: WorkerClients, reply: Message) -> ChannelConfig:
    config_id = reply.get("channel_config_id")
    if config_id is None:  # the API and web channels need no provider account
        return ChannelConfig(
            id="", tenant_id=reply["tenant_id"], channel=reply["channel"], account_id=""
        )
    return c.channel_configs.for_delivery(reply["tenant_id"], config_id)


def send_reply(c: WorkerClients, inbound: Message, reply: Message) -> None:
    """Send once: a reply already marked sent (by an earlier run) is not sent again."""
    adapter = adapter_for(reply["channel"])
    c.messages.advance(reply["tenant_id"], reply["_id"], Status.SENDING)
    outbound = Outbound(
        tenant_id=reply["tenant_id"],
        message_id=reply["_id"],
        conversation_id=reply["conversation_id"],
        recipient=reply["user_id"],
        text=reply["text"],
        parts=reply["parts"],
        reply_to=inbound.get("reply_to", {}),
    )
    receipt = adapter.send(outbound, _config(c, reply), c.channels)
    ids = receipt.provider_message_ids
    c.messages.advance(
        reply["tenant_id"],
        reply["_id"],
        Status.SENT,
        {"provider_message_ids": ids, "provider_message_id": ids[0] if ids else None},
    )
    if receipt.delivered:
        c.messages.advance(reply["tenant_id"], reply["_id"], Status.DELIVERED)


@app.task(name="parley.deliver", base=StageTask, bind=True, **stage_retry())
def deliver(self: Task, tenant_id: str, message_id: str) -> str:  # type: ignore[type-arg]
    c = clients()
    message = c.messages.find(tenant_id, message_id)
    if message is None or message["status"] != Status.GENERATED:
        return message_id
    reply = c.messages.get(tenant_id, reply_id(message_id))
    if reply["status"] in (Status.GENERATED, Status.SENDING):
        try:
            send_reply(c, message, reply)
        except RateLimited as exc:
            countdown = max(exc.retry_after or 0.0, 1.0)
            log.info("deliver %s rate limited; retry in %.1fs", reply["_id"], countdown)
            raise self.retry(exc=exc, countdown=countdown) from exc
        except SendRejected as exc:
            failure: dict[str, Any] = {"code": exc.code, "message": str(exc)[:500]}
            c.messages.advance(tenant_id, reply["_id"], Status.FAILED, {"delivery_error": failure})
            raise
    c.conversations.touch(tenant_id, reply["conversation_id"], reply["_id"], reply["created_at"])
    c.messages.advance(tenant_id, message_id, Status.DELIVERED)
    return message_id
