"""Re-driving a turn from a stage: dead-letter replays and the reconciler both come here.

Every stage re-reads MongoDB and is idempotent, so driving a turn that is in fact still moving
costs a few no-op tasks, never a second reply.
"""

from __future__ import annotations

from core.stages import DELIVER, stage_named
from core.states import Status
from storage.messages import MessageRepository, reply_id
from tasks.chain import chain_from


def redrive(stage: str, tenant_id: str, message_id: str) -> None:
    """Enqueue the turn again from ``stage``."""
    chain_from(stage, tenant_id, message_id).apply_async()


def replay(messages: MessageRepository, stage: str, tenant_id: str, message_id: str) -> bool:
    """Rewind a dead-lettered (or failed) turn to just before ``stage`` and enqueue it from
    there. False when the turn is not dead-lettered or failed (nothing is enqueued)."""
    if not messages.rewind(tenant_id, message_id, stage_named(stage).before):
        return False
    if stage == DELIVER.name:
        messages.rewind(tenant_id, reply_id(message_id), Status.GENERATED)
    redrive(stage, tenant_id, message_id)
    return True
