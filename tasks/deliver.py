"""The ``deliver`` stage: hand the reply to its channel adapter, record what the provider said."""

from __future__ import annotations

from channels.base import Outbound
from channels.registry import adapter_for
from core.states import Status
from storage.messages import reply_id
from tasks.app import app
from tasks.base import StageTask
from tasks.policy import stage_retry
from tasks.runtime import clients


@app.task(name="parley.deliver", base=StageTask, **stage_retry())
def deliver(tenant_id: str, message_id: str) -> str:
    c = clients()
    message = c.messages.find(tenant_id, message_id)
    if message is None or message["status"] != Status.GENERATED:
        return message_id
    reply = c.messages.get(tenant_id, reply_id(message_id))
    if reply["status"] in (Status.GENERATED, Status.SENDING):
        adapter = adapter_for(reply["channel"])
        c.messages.advance(tenant_id, reply["_id"], Status.SENDING)
        receipt = adapter.send(
            Outbound(
                tenant_id=tenant_id,
                message_id=reply["_id"],
                conversation_id=reply["conversation_id"],
                recipient=reply["user_id"],
                text=reply["text"],
                parts=reply["parts"],
            )
        )
        c.messages.advance(
            tenant_id,
            reply["_id"],
            Status.SENT,
            {"provider_message_id": receipt.provider_message_id},
        )
        if receipt.delivered:
            c.messages.advance(tenant_id, reply["_id"], Status.DELIVERED)
    c.conversations.touch(tenant_id, reply["conversation_id"], reply["_id"], reply["created_at"])
    c.messages.advance(tenant_id, message_id, Status.DELIVERED)
    return message_id
