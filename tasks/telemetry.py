"""The workers' telemetry (docs/event-catalogue.md): the events no stored document owns.

- ``integration.api.called`` and the breaker's ``system.error``: tasks/calls.py.
- ``system.performance``: each worker process sums its tasks' durations per stage and, once
  a window (``PARLEY_PERFORMANCE_WINDOW_SECONDS``) has passed, tells the window's counts and
  percentiles; nothing per task but a list append.
- ``system.health``: the beat job ``check_health`` probes each dependency and tells a change
  (``down`` / ``up``) once, the last seen status kept in Redis (and in memory while Redis is
  the one down); health events go straight to Kafka, since the queue they would otherwise wait
  in may be the dependency that is down.

Everything else goes through the telemetry queue (storage/telemetry.py) and the beat job
``relay_telemetry``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pymongo
from celery.signals import task_postrun, task_prerun

from core.cloudevents import CloudEvent
from core.system_events import (
    system_health,
    system_performance,
)
from storage.kafka_producer import StagedEvent
from storage.outbox import stage as serialised
from tasks.app import app
from tasks.runtime import WorkerClients, clients

log = logging.getLogger("parley.tasks.telemetry")

HEALTH_KEY = "parley:health:worker"


# ---- system.performance ------------------------------------------------------------------


@dataclass
class _Window:
    started: float = field(default_factory=time.monotonic)
    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[str, int] = field(default_factory=lambda: defaultdict(int))


_window = _Window()
_window_lock = threading.Lock()
_task_started: dict[str, float] = {}


def _percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(ordered) * share // 1))
    return round(ordered[int(rank) - 1], 3)


def summary(durations: dict[str, list[float]], failed: dict[str, int]) -> dict[str, Any]:
    """Per stage: how many tasks ran, their p50/p95 in milliseconds, how many failed."""
    stages: dict[str, Any] = {}
    for name in sorted(set(durations) | set(failed)):
        ordered = sorted(durations.get(name, []))
        stages[name] = {
            "count": len(ordered),
            "p50_ms": _percentile(ordered, 0.5) if ordered else None,
            "p95_ms": _percentile(ordered, 0.95) if ordered else None,
            "failed": failed.get(name, 0),
        }
    return stages


def _stage_of(task: Any) -> str:
    return str(getattr(task, "stage", "") or task.name)


@task_prerun.connect
def _started(task_id: str | None = None, **_: Any) -> None:
    if task_id is not None:
        _task_started[task_id] = time.monotonic()


@task_postrun.connect
def _finished(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    global _window
    started = _task_started.pop(task_id or "", None)
    if started is None or task is None:
        return
    name = _stage_of(task)
    now = time.monotonic()
    window_seconds = clients().settings.performance_window_seconds
    with _window_lock:
        _window.durations[name].append((now - started) * 1e3)
        if state not in ("SUCCESS", "RETRY"):
            _window.failed[name] += 1
        if now - _window.started < window_seconds:
            return
        done, _window = _window, _Window(started=now)
    stages = summary(done.durations, done.failed)
    seconds = round(now - done.started)
    event = system_performance(seconds, _reporter(), stages)
    clients().telemetry.record([event])


def _reporter() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ---- beat jobs ---------------------------------------------------------------------------


@app.task(name="parley.maintenance.relay_telemetry")
def relay_telemetry(limit: int = 1000) -> int:
    """Publish what the telemetry queue holds; how many Kafka acknowledged."""
    c = clients()
    return c.telemetry.relay(c.events, c.leases, limit, c.settings.kafka_publish_timeout_seconds)


_last_seen: dict[str, str] = {}  # the statuses seen while Redis was the one down
_unsent: list[CloudEvent] = []  # health events Kafka has not taken yet


def _probes(c: WorkerClients) -> dict[str, Callable[[], object]]:
    timeout = 2.0

    def mongodb() -> object:
        with pymongo.timeout(timeout):
            return c.db.command("ping")

    def engine() -> object:
        if not c.engine.is_serving(timeout=timeout):
            raise ConnectionError("not serving")
        return None

    def kafka() -> object:
        if not c.events.reachable(timeout):
            raise ConnectionError("no answer")
        return None

    return {
        "redis": c.redis.ping,
        "broker": c.broker.ping,
        "mongodb": mongodb,
        "kafka": kafka,
        "engine": engine,
    }


def _status(check: Callable[[], object]) -> tuple[str, str]:
    try:
        check()
    except Exception as exc:
        return "down", type(exc).__name__
    return "up", ""


def _previous(c: WorkerClients, component: str, status: str) -> str | None:
    """The last status seen of ``component`` (None: never), now replaced by ``status``."""
    try:
        before = c.redis.hget(HEALTH_KEY, component)
        c.redis.hset(HEALTH_KEY, component, status)
    except Exception:  # Redis itself is down: this process's memory stands in
        before = _last_seen.get(component)
        _last_seen[component] = status
        return before if isinstance(before, str) else None
    _last_seen[component] = status
    return before.decode() if isinstance(before, bytes) else before


@app.task(name="parley.maintenance.check_health")
def check_health() -> list[str]:
    """Probe each dependency; a ``system.health`` event for each one whose status changed
    (a first sighting that is ``up`` is not news). Returns the components that changed."""
    c = clients()
    changed = []
    for component, check in _probes(c).items():
        status, detail = _status(check)
        before = _previous(c, component, status)
        if before == status or (before is None and status == "up"):
            continue
        changed.append(component)
        _unsent.append(system_health(component, status, "worker", detail))
    _publish_health(c)
    return changed


def _publish_health(c: WorkerClients) -> None:
    if not _unsent:
        return
    batch = [_staged(event) for event in _unsent]
    taken = c.events.publish_staged(batch, c.settings.kafka_publish_timeout_seconds, lambda _: None)
    if taken == len(batch):
        _unsent.clear()


def _staged(event: CloudEvent) -> StagedEvent:
    entry = serialised(event)
    return StagedEvent(entry["id"], entry["topic"], entry["key"], entry["value"], entry["id"])
