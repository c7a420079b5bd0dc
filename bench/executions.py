"""Task executions per turn, from Celery's own counters: every worker's ``inspect stats`` keeps
``total``, the tasks it accepted since it started, by name. A re-queue, a retry's countdown, a
parked turn woken again and a reconciler's re-drive each count once, so the delta over a load,
divided by its turns, is what the load cost the workers. An unhurried turn costs one execution
of each stage of its chain (``UNHURRIED``).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from core.stages import CHAIN
from tasks.queues import QUEUES

UNHURRIED = len(CHAIN)
TASKS = tuple(stage.task for stage in CHAIN)
STATS_TIMEOUT = 2.0


def _stats(attempts: int = 5) -> dict[str, dict[str, Any]]:
    """``inspect stats`` of each of Parley's workers (not the bare chain's), by queue."""
    from tasks.app import app as celery_app

    wanted, answered = set(QUEUES), set[str]()
    for _ in range(attempts):
        with celery_app.connection_for_write() as connection:
            inspect = celery_app.control.inspect(timeout=STATS_TIMEOUT, connection=connection)
            stats: dict[str, Any] = inspect.stats() or {}
        ours = {name.split("@")[0]: each for name, each in stats.items()}
        ours = {queue: each for queue, each in ours.items() if queue in wanted}
        answered = set(ours)
        if answered >= wanted:  # a worker that missed the broadcast would look idle
            return ours
    raise RuntimeError(f"workers did not answer inspect stats: only {sorted(answered)}")


def snapshot() -> Counter[str]:
    """Tasks accepted so far by Parley's workers, by name."""
    totals: Counter[str] = Counter()
    for each in _stats().values():
        totals.update(each.get("total", {}))
    return totals


def pool_sizes() -> dict[str, int]:
    """How many tasks each of Parley's workers runs at once (threads or processes)."""
    return {queue: int(each["pool"]["max-concurrency"]) for queue, each in _stats().items()}


def settle(before: Counter[str], turns: int, timeout: float = 60.0) -> Counter[str]:
    """The counters once the load's turns are through their chains: ``turns`` audits more than
    ``before`` (the last delivery comes before its audit) and no chain task run in two seconds.
    After ``timeout``, what they are then."""
    deadline = time.monotonic() + timeout
    last = snapshot()
    while time.monotonic() < deadline:
        time.sleep(2.0)
        now = snapshot()
        audited = now["parley.audit"] - before["parley.audit"] >= turns
        if audited and all(now[task] == last[task] for task in TASKS):
            return now
        last = now
    return last


def per_turn(before: Counter[str], after: Counter[str], turns: int) -> dict[str, Any]:
    """Chain task executions per turn, in all and by stage, and the maintenance tasks run
    meanwhile (the reconciler, the outbox relay: beat's, not the turns')."""
    spent = {task: after[task] - before[task] for task in after}
    by_stage = {task.split(".")[1]: spent.get(task, 0) / max(1, turns) for task in TASKS}
    return {
        "per_turn": round(sum(by_stage.values()), 3),
        "by_stage": {stage: round(value, 3) for stage, value in by_stage.items()},
        "maintenance": {
            task: count for task, count in sorted(spent.items()) if task not in TASKS and count
        },
    }
