"""The one place the turn's chain is built: process → generate → deliver → audit."""

from __future__ import annotations

from celery import chain
from celery.canvas import Signature

from tasks.app import app

STAGES = ("process", "generate", "deliver", "audit")


def chain_from(stage: str, tenant_id: str, message_id: str) -> Signature:
    """The turn's chain from ``stage`` on. Immutable signatures: every stage takes the same ids
    and re-reads state from MongoDB. Built by task name, so the stages themselves can hand a
    turn on (tasks/ordering.py) without importing each other."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    rest = STAGES[STAGES.index(stage) :]
    return chain(
        *(app.signature(f"parley.{name}", (tenant_id, message_id), immutable=True) for name in rest)
    )


def turn_chain(tenant_id: str, message_id: str) -> Signature:
    return chain_from("process", tenant_id, message_id)
