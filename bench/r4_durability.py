"""R4, the cost of durability: Parley with its reliability settings (late acks, requeue on a
lost worker, prefetch of one, ...) against the same build on Celery's defaults for them
(``CELERY_DEFAULTS``, laid over ``celeryconfig`` by ``bench.celery_overrides``). Each variant is
one platform start with every repetition on it: a start costs ~20 s, and alternating per
repetition would double the scenario's time for little less noise."""

from __future__ import annotations

from typing import Any

from bench import pipeline
from bench.session import Session

# Celery's own defaults for every reliability flag celeryconfig sets, to price them.
CELERY_DEFAULTS: dict[str, Any] = {
    "task_acks_late": False,
    "task_reject_on_worker_lost": False,
    "worker_cancel_long_running_tasks_on_connection_loss": False,
    "worker_prefetch_multiplier": 4,
}
VARIANTS: dict[str, dict[str, Any]] = {"reliable": {}, "celery_defaults": CELERY_DEFAULTS}


def measure(session: Session) -> dict[str, Any]:
    return alternate(session, VARIANTS, "reliable", "celery_defaults", key="r4_ratio")


def alternate(
    session: Session,
    variants: dict[str, dict[str, Any]],
    name: str,
    baseline: str,
    key: str,
    flower: str | None = None,
) -> dict[str, Any]:
    """R2 of each variant, every repetition on one platform start per variant."""
    conversations = session.config.conversations
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for variant, celery in variants.items():
        with session.parley(variant, celery=celery, flower=variant == flower) as target:
            for _ in range(session.config.repetitions):
                runs[variant].append(
                    pipeline.throughput(session, target, "whatsapp", conversations)
                )
    figures = {variant: pipeline.summary(each) for variant, each in runs.items()}
    value = figures[name]["throughput"]
    base = figures[baseline]["throughput"]
    return {**figures, key: value / base if base else float("nan")}
