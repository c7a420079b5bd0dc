"""R5, the cost of monitoring: task events on (as shipped) with Flower attached, against task
events off (``PARLEY_BENCH_TASK_EVENTS=0``) and no Flower."""

from __future__ import annotations

from typing import Any

from bench.r4_durability import alternate
from bench.session import Session

VARIANTS = {"events_flower": {}, "no_events": {"PARLEY_BENCH_TASK_EVENTS": "0"}}


def measure(session: Session) -> dict[str, Any]:
    return alternate(
        session, VARIANTS, "events_flower", "no_events", key="r5_ratio", flower="events_flower"
    )
