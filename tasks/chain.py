"""The one place the turn's chain is built: process → generate → deliver → audit."""

from __future__ import annotations

from celery import chain
from celery.canvas import Signature

from tasks.audit import audit
from tasks.deliver import deliver
from tasks.generate import generate
from tasks.process import process

STAGES = ("process", "generate", "deliver", "audit")
_TASKS = {"process": process, "generate": generate, "deliver": deliver, "audit": audit}


def chain_from(stage: str, tenant_id: str, message_id: str) -> Signature:
    """The turn's chain from ``stage`` on. Immutable signatures: every stage takes the same ids
    and re-reads state from MongoDB."""
    if stage not in _TASKS:
        raise ValueError(f"unknown stage {stage!r}")
    rest = STAGES[STAGES.index(stage) :]
    return chain(*(_TASKS[name].si(tenant_id, message_id) for name in rest))


def turn_chain(tenant_id: str, message_id: str) -> Signature:
    return chain_from("process", tenant_id, message_id)
