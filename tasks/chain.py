"""The one place the turn's chain is built: process → generate → deliver → audit."""

from __future__ import annotations

from celery import chain
from celery.canvas import Signature

from core.stages import GENERATE, PROCESS, stages_from
from tasks import log_context as _publishing_request_ids  # noqa: F401  (its signal handlers)
from tasks.app import app


def chain_from(
    stage: str, tenant_id: str, message_id: str, generate_after: float = 0.0
) -> Signature:
    """The turn's chain from ``stage`` on. Immutable signatures: every stage takes the same ids
    and re-reads state from MongoDB. Built by task name, so the stages themselves can hand a
    turn on (tasks/ordering.py) without importing each other. ``generate_after``: seconds the
    generate stage waits once the stage before it is done (a burst's window, core/bursts.py);
    the wait is the broker's countdown, so no worker is held by it."""
    signatures = []
    for each in stages_from(stage):
        options = {"countdown": generate_after} if each is GENERATE and generate_after > 0 else {}
        signatures.append(
            app.signature(each.task, (tenant_id, message_id), immutable=True, **options)
        )
    return chain(*signatures)


def turn_chain(tenant_id: str, message_id: str, generate_after: float = 0.0) -> Signature:
    return chain_from(PROCESS.name, tenant_id, message_id, generate_after)
