"""The one place the turn's chain is built: process → generate → deliver → audit."""

from __future__ import annotations

from celery import chain
from celery.canvas import Signature

from tasks.audit import audit
from tasks.deliver import deliver
from tasks.generate import generate
from tasks.process import process


def turn_chain(tenant_id: str, message_id: str) -> Signature:
    """Immutable signatures: every stage takes the same ids and re-reads state from MongoDB."""
    return chain(
        process.si(tenant_id, message_id),
        generate.si(tenant_id, message_id),
        deliver.si(tenant_id, message_id),
        audit.si(tenant_id, message_id),
    )
