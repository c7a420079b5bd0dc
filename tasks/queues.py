"""Parley's queues and how their workers run: threads for IO-bound stages, else prefork.

A queue per stage (``core.stages``), one for outbound webhooks and one for the beat jobs (their
names: ``core.queue_names``). ``PARLEY_WORKER_CONCURRENCY`` overrides a queue's concurrency,
``parley worker --concurrency`` both.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.queue_names import MAINTENANCE as MAINTENANCE  # re-exported: the queues by name
from core.queue_names import WEBHOOKS as WEBHOOKS
from core.settings import Settings
from core.stages import AUDIT, DELIVER, GENERATE, PROCESS


@dataclass(frozen=True)
class QueueSpec:
    """A queue's worker: its pool and its concurrency unless the settings say otherwise."""

    name: str
    pool: str
    concurrency: int


QUEUES: dict[str, QueueSpec] = {
    spec.name: spec
    for spec in (
        QueueSpec(PROCESS.queue, "prefork", 2),
        QueueSpec(GENERATE.queue, "threads", 8),  # waits on the engine
        QueueSpec(DELIVER.queue, "threads", 8),  # waits on providers
        QueueSpec(AUDIT.queue, "threads", 4),  # waits on Kafka's acknowledgements
        QueueSpec(WEBHOOKS, "threads", 8),  # waits on tenants' endpoints
        QueueSpec(MAINTENANCE, "prefork", 1),
    )
}


def worker_concurrency(queue: str, settings: Settings, option: int | None = None) -> int:
    """The threads or processes of ``queue``'s worker: ``option`` (``parley worker
    --concurrency``), else ``PARLEY_WORKER_CONCURRENCY``'s entry for it, else the queue's own."""
    if option is not None:
        return option
    return settings.worker_concurrencies.get(queue, QUEUES[queue].concurrency)
