"""The workers' Prometheus metrics (docs/metrics.md), served by each worker's main process on
``PARLEY_WORKER_METRICS_PORT`` (or ``parley worker <queue> --metrics-port N``; 0: off).

A prefork worker's tasks run in forked children, so the metrics live in prometheus-client's
multiprocess mode: every process writes its values to files in a folder of the worker's own
under the state folder (``metrics/<queue>-<pid>``, emptied at start; ``use_multiprocess_files``)
and the main process's endpoint sums them. Thread-pool workers use the same files, so one
worker kind reads like another. Labels are stages, outcomes, reasons, channels and statuses: never a
tenant or a message, so the series stay few whatever the traffic.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from celery.signals import task_postrun, task_prerun, task_retry, worker_process_shutdown
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

from storage.round_trips import Tally

log = logging.getLogger("parley.tasks.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

TASKS = Counter("parley_tasks_total", "Task runs by stage and outcome.", ["stage", "outcome"])
TASK_SECONDS = Histogram(
    "parley_task_duration_seconds",
    "How long a task run took, by stage.",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RETRIES = Counter(
    "parley_task_retries_total", "Retries asked, by stage and reason.", ["stage", "reason"]
)
DEAD_LETTERS = Counter(
    "parley_dead_letters_total", "Turns dead-lettered, by stage and reason.", ["stage", "reason"]
)
ENGINE_SECONDS = Histogram(
    "parley_engine_call_duration_seconds", "Engine calls by outcome.", ["outcome"]
)
PROVIDER_SECONDS = Histogram(
    "parley_provider_call_duration_seconds",
    "Provider answers to sends, by channel and HTTP status.",
    ["channel", "status"],
)
BREAKER_OPENINGS = Counter(
    "parley_breaker_openings_total", "Circuit breakers opening, by dependency.", ["target"]
)
OUTBOX_BACKLOG = Gauge(
    "parley_outbox_backlog",
    "Events noted and not yet acknowledged by Kafka, as the outbox relay last counted them.",
    ["store"],
    multiprocess_mode="mostrecent",
)
ROUND_TRIPS = Histogram(
    "parley_stage_round_trips",
    "Round trips to each store (mongo, redis) one stage run made (storage/round_trips.py).",
    ["stage", "store"],
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64),
)
REDRIVES = Counter(
    "parley_reconciler_redrives_total", "Stuck turns the reconciler re-drove, by stage.", ["stage"]
)

_started: dict[str, float] = {}


def _stage(task: Any) -> str:
    return str(getattr(task, "stage", "") or getattr(task, "name", "") or "unknown")


@task_prerun.connect
def _begin(task_id: str | None = None, **_: Any) -> None:
    if task_id is not None:
        _started[task_id] = time.monotonic()


@task_postrun.connect
def _end(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    started = _started.pop(task_id or "", None)
    if task is None:
        return
    stage = _stage(task)
    TASKS.labels(stage, (state or "unknown").lower()).inc()
    if started is not None:
        TASK_SECONDS.labels(stage).observe(time.monotonic() - started)


def observe_round_trips(stage: str, tally: Tally) -> None:
    ROUND_TRIPS.labels(stage, "mongo").observe(tally.mongo)
    ROUND_TRIPS.labels(stage, "redis").observe(tally.redis)


@task_retry.connect
def _retried(sender: Any = None, reason: Any = None, **_: Any) -> None:
    RETRIES.labels(_stage(sender), type(reason).__name__ if reason is not None else "unknown").inc()


def use_multiprocess_files(folder: str) -> None:
    """Store every value made from now on in ``folder``'s files. prometheus-client picks its
    storage when first imported, which the console's own imports do before it knows it will be
    a worker; every metric here has labels, so its values are made at first use, after this."""
    from prometheus_client import values

    os.environ[MULTIPROC_ENV] = folder
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def serve(host: str, port: int) -> None:
    """The worker's endpoint, from its main process before the pool starts: every process's
    values, summed from the multiprocess files."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)
    log.info("worker metrics on %s:%d", host, port)


@worker_process_shutdown.connect
def _forget_child(pid: int | None = None, **_: Any) -> None:
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]
