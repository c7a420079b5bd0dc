"""The base class of Parley's stage tasks: poison messages are dead-lettered, not looped.

With ``acks_late`` and ``reject_on_worker_lost``, a task whose worker dies is delivered again.
A task that kills its worker every time would loop for ever, so each delivery of the same task
attempt is counted in Redis and, past ``MAX_REDELIVERIES``, the turn goes to the dead letters.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import Task
from celery.exceptions import MaxRetriesExceededError
from pymongo.errors import OperationFailure
from redis.exceptions import RedisError

from core.errors import TransientError
from tasks.fairness import tenant_slot
from tasks.policy import (
    INFRASTRUCTURE_ERRORS,
    INFRASTRUCTURE_MAX_RETRIES,
    StoreBusy,
    transient_store_error,
)
from tasks.runtime import clients

log = logging.getLogger("parley.tasks")

MAX_REDELIVERIES = 5


class PoisonMessage(Exception):
    """The same task attempt was delivered more often than any healthy worker needs."""


class StageTask(Task):  # type: ignore[type-arg]
    """Every stage takes ``(tenant_id, message_id)`` and returns the message id."""

    stage = ""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        if request.id and not request.called_directly and self._delivered_too_often(args[0]):
            from tasks.failures import dead_letter

            c = clients()
            message = c.messages.find(args[0], args[1])
            if message is not None:
                error = PoisonMessage(f"{self.name} delivered {MAX_REDELIVERIES}+ times")
                dead_letter(c, message, self.stage, error, "poison", MAX_REDELIVERIES)
            return args[1]
        try:
            with tenant_slot(self, args[0]):  # one tenant's flood cannot hold every worker
                return super().__call__(*args, **kwargs)
        except OperationFailure as exc:
            if not transient_store_error(exc):
                raise
            # Celery's autoretry matches classes, and a busy store shares its class with a
            # malformed query: the code or text tells them apart, so the retry is asked here.
            busy = StoreBusy(f"{type(exc).__name__} (code {exc.code})")
            countdown = random.uniform(1.0, 5.0)  # noqa: S311  (jitter, not a secret)
            raise self.retry(
                exc=busy, countdown=countdown, max_retries=INFRASTRUCTURE_MAX_RETRIES
            ) from exc

    def _delivered_too_often(self, tenant_id: str) -> bool:
        key = f"parley:deliveries:{tenant_id}:{self.request.id}:{self.request.retries}"
        try:
            redis = clients().redis
            count = int(redis.incr(key))
            redis.expire(key, 86400)
        except RedisError:
            return False  # the broker is Redis too: this delivery cannot be counted; run it
        return count > MAX_REDELIVERIES

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        tenant_id, message_id = args[0], args[1]
        if isinstance(
            exc, (*INFRASTRUCTURE_ERRORS, TransientError, MaxRetriesExceededError)
        ) or transient_store_error(exc):
            # A store or service stayed down through every retry: the reconciler re-drives the
            # turn once it is back, so this is not the turn's fault.
            log.error("stage %s gave up on %s: %s", self.name, message_id, type(exc).__name__)
            return
        log.error("stage %s failed on %s: %s", self.name, message_id, type(exc).__name__)
        try:
            from tasks.failures import dead_letter

            c = clients()
            message = c.messages.find(tenant_id, message_id)
            if message is not None:
                dead_letter(c, message, self.stage, exc, "permanent", self.request.retries + 1)
        except Exception:
            log.exception("could not dead-letter %s", message_id)
