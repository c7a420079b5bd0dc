"""Re-driving a turn from a stage: dead-letter replays and the reconciler both come here.

Every stage re-reads MongoDB and is idempotent, so driving a turn that is in fact still moving
costs a few no-op tasks, never a second reply.
"""

from __future__ import annotations

import logging

from core.errors import Conflict, TransientError
from core.stages import DELIVER, stage_named
from core.states import Status
from storage.dead_letters import REPLAYED, DeadLetterRepository
from storage.documents import DeadLetterDocument
from storage.messages import MessageRepository, reply_id
from tasks.chain import chain_from

log = logging.getLogger("parley.tasks.redrive")


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


class ReplayRefused(Conflict):
    """The dead letter cannot be replayed now; ``slug`` says why (``already-replayed``,
    ``not-open`` or ``not-replayable``)."""

    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.slug = slug


def replay_dead_letter(
    dead_letters: DeadLetterRepository,
    messages: MessageRepository,
    tenant_id: str,
    dead_letter_id: str,
) -> DeadLetterDocument:
    """Claim the dead letter, rewind its turn and enqueue it from the failed stage.

    The claim is the guard: of two concurrent replays only one enqueues. When nothing was
    enqueued the dead letter is open again. A replay that died before finishing leaves a claim
    that expires (``storage.dead_letters.REPLAY_CLAIM_SECONDS``); until then, ``not-open``.
    """
    claimed = dead_letters.claim_replay(tenant_id, dead_letter_id)
    if claimed is None:
        current = dead_letters.get(tenant_id, dead_letter_id)  # NotFound for another tenant's
        if current["state"] == REPLAYED:
            raise ReplayRefused("already-replayed", f"dead letter {dead_letter_id} was replayed")
        raise ReplayRefused("not-open", f"dead letter {dead_letter_id} is being replayed")
    try:
        replayed = replay(messages, claimed["stage"], tenant_id, claimed["message_id"])
    except Exception as exc:
        dead_letters.finish_replay(tenant_id, claimed, replayed=False)
        log.error("replay of %s failed: %s", dead_letter_id, type(exc).__name__)
        raise TransientError("the turn could not be queued; retry later") from exc
    dead_letters.finish_replay(tenant_id, claimed, replayed=replayed)
    if not replayed:
        raise ReplayRefused(
            "not-replayable",
            f"message {claimed['message_id']} is neither failed nor dead-lettered",
        )
    return claimed
