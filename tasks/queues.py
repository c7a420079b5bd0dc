"""Parley's queues and how their workers run: threads for IO-bound stages, else prefork."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueueSpec:
    name: str
    pool: str
    concurrency: int


QUEUES: dict[str, QueueSpec] = {
    spec.name: spec
    for spec in (
        QueueSpec("process", "prefork", 2),
        QueueSpec("generate", "threads", 8),  # waits on the engine
        QueueSpec("deliver", "threads", 8),  # waits on providers
        QueueSpec("audit", "threads", 4),  # waits on Kafka's acknowledgements
        QueueSpec("maintenance", "prefork", 1),
    )
}
