"""Per-conversation order: a turn goes through a stage only after every earlier turn of its
conversation has passed it. The Redis index answers fast; MongoDB, read by ``_id``, has the last
word on whether an earlier turn is really unfinished, and is what the index is rebuilt from when
Redis lost it (see storage/turn_order.py).

Waiting is not work. A turn that finds an earlier one unfinished parks and its task ends, the
rest of its chain with it; the turn that passes the stage hands over by enqueuing the parked
turn that is now first in line, from that stage on. Parking re-checks after joining the parked
set, so a hand-over between the first look and the parking is never missed, and taking a turn
out of the parked set is atomic, so it is woken by one caller only. The reconciler wakes a
parked turn whose hand-over was lost (a crash between a pass and its enqueue) and never
re-drives one that is still waiting (``nudge``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import Task

from core.stages import ORDERED, stage_named, unfinished
from core.states import Status
from storage.documents import MessageDocument
from storage.errors import OrderIndexLost
from tasks.chain import chain_from
from tasks.runtime import WorkerClients

log = logging.getLogger("parley.tasks.ordering")

# More stale entries than this in a row means the index is off; trust MongoDB and go on.
MAX_STALE = 50
# A turn quiet this many times ``reconcile_after_seconds`` is re-driven even while its stage's
# queue is not empty; each re-drive (and each wake) is claimed for as long.
REDRIVE_PATIENCE = 5

# The statuses of a turn's inbound message that mean it has not passed each ordered stage yet.
UNFINISHED: dict[str, frozenset[Status]] = {stage: unfinished(stage) for stage in ORDERED}


def _unfinished(doc: MessageDocument | None, stage: str) -> bool:
    return doc is not None and doc["status"] in {status.value for status in UNFINISHED[stage]}


@dataclass(frozen=True)
class Clearance:
    """A turn may go through its stage now. ``later``: the turns after it in its conversation
    that had not passed the stage when it was let through (as many as the caller asked for;
    index entries, to be checked in MongoDB)."""

    later: tuple[str, ...] = ()


def earlier_unfinished(
    c: WorkerClients, message: MessageDocument, stage: str, later: int = 0
) -> tuple[str | None, list[str]]:
    """The id of an earlier turn that has not passed ``stage``, or None; and up to ``later``
    turns after this one that have not passed it (from the same look at the index)."""
    tenant_id, conversation_id = message["tenant_id"], message["conversation_id"]
    for _ in range(MAX_STALE):
        try:
            earlier, after = c.order.earlier(
                tenant_id, conversation_id, stage, message["_id"], later
            )
        except OrderIndexLost:
            rebuilt = c.order.rebuild(c.messages.turns_in_flight())
            log.warning("the turn order index was lost; rebuilt it with %d turn(s)", rebuilt)
            # Lost again at once: OrderIndexLost is transient, so the stage is retried.
            earlier, after = c.order.earlier(
                tenant_id, conversation_id, stage, message["_id"], later
            )
        if earlier is None:
            return None, after
        if _unfinished(c.messages.find(tenant_id, earlier), stage):
            return earlier, after
        pass_stage(c, tenant_id, conversation_id, earlier, stage)  # stale: it moved on
    return None, []


def ready(
    task: Task,  # type: ignore[type-arg]
    c: WorkerClients,
    message: MessageDocument,
    stage: str,
    later: int = 0,
) -> Clearance | None:
    """A clearance when the turn waits for ``stage`` and may go through it now (``later``: how
    many of the turns after it to name). None when it is not there yet, is parked
    (``may_go``), or already passed it; in that last case it hands over again, since the run
    that passed it may have died before it did."""
    if message["status"] != stage_named(stage).before:
        if message["status"] not in UNFINISHED[stage]:
            pass_stage(c, message["tenant_id"], message["conversation_id"], message["_id"], stage)
        return None
    return may_go(task, c, message, stage, later)


def may_go(
    task: Task,  # type: ignore[type-arg]
    c: WorkerClients,
    message: MessageDocument,
    stage: str,
    later: int = 0,
) -> Clearance | None:
    """A clearance when the turn may go through ``stage`` now. Otherwise the turn is parked,
    the rest of this task's chain is dropped, and the caller returns (None): the hand-over
    enqueues it again."""
    earlier, after = earlier_unfinished(c, message, stage, later)
    if earlier is None:
        return Clearance(tuple(after))
    tenant_id, conversation_id, message_id = (
        message["tenant_id"],
        message["conversation_id"],
        message["_id"],
    )
    c.order.park(tenant_id, conversation_id, stage, message_id)
    # Look again: the earlier turn may have passed (and found nobody parked) meanwhile.
    earlier, after = earlier_unfinished(c, message, stage, later)
    if earlier is None and c.order.unpark(tenant_id, conversation_id, stage, message_id):
        return Clearance(tuple(after))
    # Still waiting, or already woken by a hand-over that enqueued the turn afresh.
    task.request.chain = None
    log.debug("%s parked at %s behind %s", message_id, stage, earlier)
    return None


def pass_stage(
    c: WorkerClients, tenant_id: str, conversation_id: str, message_id: str, *stages: str
) -> None:
    """The turn passed ``stages`` (every ordered stage if none): hand over to the parked turn
    now first in line, if there is one."""
    for stage, woken in c.order.passed(tenant_id, conversation_id, message_id, *stages):
        _wake(c, stage, tenant_id, woken)


def nudge(c: WorkerClients, tenant_id: str, conversation_id: str, stage: str) -> None:
    """Wake the conversation's first turn at ``stage`` if it is parked with nothing ahead of it
    (its hand-over was lost); drop entries of turns that moved on without passing."""
    for _ in range(MAX_STALE):
        head = c.order.head(tenant_id, conversation_id, stage)
        if head is None:
            return
        if _unfinished(c.messages.find(tenant_id, head), stage):
            if c.order.unpark(tenant_id, conversation_id, stage, head):
                log.warning("%s was parked at %s with nothing ahead of it; woken", head, stage)
                _wake(c, stage, tenant_id, head)
            return
        pass_stage(c, tenant_id, conversation_id, head, stage)


def _wake(c: WorkerClients, stage: str, tenant_id: str, message_id: str) -> None:
    # A woken turn has been quiet for as long as it waited: claim its re-drive for the
    # reconciler's patience, so its task is not re-driven while it waits in the queue.
    claim_redrive(c, tenant_id, message_id, stage)
    chain_from(stage, tenant_id, message_id).apply_async()


def claim_redrive(c: WorkerClients, tenant_id: str, message_id: str, stage: str) -> bool:
    """True if this caller may re-drive the turn from ``stage`` now: a lease nobody releases,
    held for the reconciler's patience (atomic on every server, unlike FerretDB's conditional
    updates), so two reconcilers, or a wake and a reconciler, never re-drive it twice, and a
    turn still quiet once it expires (its task was lost again) can be re-driven once more."""
    hold = c.settings.reconcile_after_seconds * REDRIVE_PATIENCE
    return c.leases.acquire(f"redrive:{stage}:{tenant_id}:{message_id}", hold) is not None
