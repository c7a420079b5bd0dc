"""R5, the cost of monitoring: task events on (as shipped) with Flower attached, against task
events off (``NO_TASK_EVENTS``, laid over ``celeryconfig`` by ``bench.celery_overrides``) and
no Flower."""

from __future__ import annotations

from typing import Any

from bench.r4_durability import alternate
from bench.session import Session

# No task events, to price them (and Flower, which needs them).
NO_TASK_EVENTS: dict[str, Any] = {"task_send_sent_event": False, "worker_send_task_events": False}
VARIANTS: dict[str, dict[str, Any]] = {"events_flower": {}, "no_events": NO_TASK_EVENTS}


def measure(session: Session) -> dict[str, Any]:
    return alternate(
        session, VARIANTS, "events_flower", "no_events", key="r5_ratio", flower="events_flower"
    )
