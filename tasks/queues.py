"""Parley's queues and how their workers run: threads for IO-bound stages, else prefork.

A queue per stage (``core.stages``), one for outbound webhooks and one for the beat jobs.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.stages import AUDIT, DELIVER, GENERATE, PROCESS

MAINTENANCE = "maintenance"
WEBHOOKS = "webhooks"  # outbound webhooks to tenants' endpoints (tasks/webhooks.py)


@dataclass(frozen=True)
class QueueSpec:
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
