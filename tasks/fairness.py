"""Fair sharing of the workers between tenants: per-tenant concurrency caps per stage.

Why caps, not a fair scheduler: Celery workers take tasks from one shared queue per stage in
arrival order, so a tenant that floods the queue would otherwise fill every worker slot while
the other tenants' tasks wait behind its backlog. With a cap, a tenant runs at most
``PARLEY_TENANT_STAGE_CONCURRENCY`` tasks of a stage at once (across all workers, counted in
Redis); a task over the cap is put back at the tail of its queue after a short, jittered wait,
so the free workers take the next tasks, which are the other tenants'. A flood then costs the
flooding tenant re-queues and delay, and costs everyone else at most the cap's share of the
workers. Re-queueing is a wait, not a failure: no attempt is counted (``tasks.failures.wait``).

The cap gives way when nobody else is waiting: a task over it runs anyway when every task
waiting in its stage's queue is its own tenant's and there are at most ``ALONE_LOOK_AT_MOST``
of them (``tasks.backlog``). Putting it back then would only make the tenant wait for workers
that have nothing else to do; a lone tenant's burst runs at the speed of the whole platform.
As soon as another tenant's task waits, or the backlog is longer than can be looked at
cheaply, the cap holds again. (Tasks a worker holds for a countdown are not in the queue; they
run when due, behind at most the tasks already running.)

The slot is held for the task body and given back in ``finally``; a worker that dies holding it
frees it after ``HOLD_SECONDS`` (a minute). Redis being down lets the task run (the broker is
Redis too, so nothing would run anyway): fairness is a courtesy and never a reason to lose a turn.

Hook (one line, in ``tasks.base.StageTask.__call__``)::

    with tenant_slot(self, args[0]):
        return super().__call__(*args, **kwargs)
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.exceptions import RedisError

from core.settings import get_settings
from storage.tenant_slots import TenantSlots
from tasks.backlog import only_tenant_waiting

log = logging.getLogger("parley.tasks.fairness")

# How long a slot stays taken when its holder never gives it back (its worker was killed).
# Longer than a stage's usual run; a task that runs longer just stops counting against the cap
# (fairness is a courtesy), while a dead worker's slots hold its tenant's stage back only this
# long.
HOLD_SECONDS = 60.0
# A capped task comes back after a jittered wait that doubles with each time it was put back
# (from 0.25-0.5 s up to 4-8 s): a tenant with hundreds of tasks queued must not spin the
# workers re-queueing them, and the jitter keeps them from returning in lockstep.
REQUEUE_FIRST_SECONDS = 0.5
REQUEUE_MAX_SECONDS = 8.0
# How many waiting tasks a capped task looks through to find out whether only its own tenant
# waits (one LRANGE of a few hundred kilobytes at most).
ALONE_LOOK_AT_MOST = 100


def _alone(task: Any, tenant_id: str) -> bool:
    """Whether only this tenant's tasks wait in the task's stage queue (see the module)."""
    queue = getattr(task, "stage", "")
    if not queue:
        return False
    from tasks.runtime import clients

    try:
        return only_tenant_waiting(clients().broker, queue, tenant_id, ALONE_LOOK_AT_MOST)
    except RedisError:
        return False


def requeue_countdown(times_put_back: int = 0) -> float:
    ceiling = min(REQUEUE_MAX_SECONDS, REQUEUE_FIRST_SECONDS * 2 ** min(times_put_back, 8))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311  (jitter, not a secret)


@contextmanager
def tenant_slot(task: Any, tenant_id: str, slots: TenantSlots | None = None) -> Iterator[None]:
    """Runs the body holding one of the tenant's slots for ``task``'s stage; when the tenant
    is at its cap, re-queues the task (``task.retry``, raised from here) instead."""
    cap = get_settings().tenant_stage_concurrency
    if cap <= 0 or task.request.called_directly:
        yield
        return
    if slots is None:
        from tasks.runtime import clients

        slots = TenantSlots(clients().redis)
    stage, holder = str(task.name), str(task.request.id)
    try:
        taken = slots.take(stage, tenant_id, holder, cap, HOLD_SECONDS)
    except RedisError:
        log.warning("tenant slots unavailable; running %s without a cap", stage)
        taken = None
    if taken is False and _alone(task, tenant_id):
        taken = slots.take(stage, tenant_id, holder, 0, HOLD_SECONDS)  # beyond the cap
    if taken is False:
        from tasks.failures import wait

        wait(
            task,
            f"tenant {tenant_id} runs {cap} {stage} tasks already",
            requeue_countdown(int(task.request.retries or 0)),
        )
    try:
        yield
    finally:
        if taken:
            try:
                slots.give_back(stage, tenant_id, holder)
            except RedisError:
                log.warning("could not give back a %s slot; it expires on its own", stage)
