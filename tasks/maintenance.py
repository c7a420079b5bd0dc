"""Beat jobs on the ``maintenance`` queue."""

from __future__ import annotations

from datetime import timedelta

from core.timeutil import utcnow
from tasks.app import app
from tasks.runtime import clients


@app.task(name="parley.maintenance.release_idempotency_keys")
def release_idempotency_keys(batch: int = 1000) -> int:
    """Free ``Idempotency-Key`` values older than the window, so a client may use them again."""
    c = clients()
    cutoff = utcnow() - timedelta(seconds=c.settings.idempotency_ttl_seconds)
    return c.messages.release_idempotency_keys(cutoff, batch)
