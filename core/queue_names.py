"""The names of Parley's Celery queues: one per stage (``core.stages``), one for outbound
webhooks and one for the beat jobs. Kept below the settings so ``PARLEY_WORKER_CONCURRENCY``
can refuse a queue that does not exist; ``tasks/queues.py`` gives each its pool and default
concurrency.
"""

from __future__ import annotations

from core.stages import NAMES

WEBHOOKS = "webhooks"  # outbound webhooks to tenants' endpoints (tasks/webhooks.py)
MAINTENANCE = "maintenance"

QUEUE_NAMES: tuple[str, ...] = (*NAMES, WEBHOOKS, MAINTENANCE)
