"""The base class of Parley's stage tasks: exhausting the retries marks the turn failed."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from core.states import Status
from tasks.runtime import clients

log = logging.getLogger("parley.tasks")


class StageTask(Task):  # type: ignore[type-arg]
    """Every stage takes ``(tenant_id, message_id)``; a final failure is recorded on the message."""

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        tenant_id, message_id = args[0], args[1]
        log.error(
            "stage %s failed for good: tenant=%s message=%s error=%s",
            self.name,
            tenant_id,
            message_id,
            type(exc).__name__,
        )
        clients().messages.advance(
            tenant_id,
            message_id,
            Status.FAILED,
            {
                "failure": {
                    "stage": self.name,
                    "error": type(exc).__name__,
                    "detail": str(exc)[:500],
                }
            },
        )
