"""The base class of Parley's stage tasks: poison messages are dead-lettered, not looped.

With ``acks_late`` and ``reject_on_worker_lost``, a task whose worker dies is delivered again.
A task that kills its worker every time would loop for ever, so each redelivery of the same
task attempt is counted in Redis and, once the attempt has been delivered more than
``MAX_REDELIVERIES`` times, the turn goes to the dead letters. Only redeliveries are counted
(the broker marks them ``redelivered``): a first delivery, nearly every one, costs no round
trip and leaves nothing in Redis. A counted attempt that ends in any way its worker survives
(done, retried, failed) deletes its counter; one whose worker died keeps it for the next
delivery, at most ``MAX_REDELIVERIES + 1`` visibility timeouts (the longest a run of
redeliveries can take) before it expires.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

from celery import Task
from celery.exceptions import MaxRetriesExceededError
from pymongo.errors import OperationFailure
from redis.exceptions import RedisError

from core.errors import TransientError
from storage.round_trips import counting
from tasks.errors import PoisonMessage, StoreBusy
from tasks.fairness import tenant_slot
from tasks.metrics import observe_round_trips
from tasks.policy import (
    INFRASTRUCTURE_ERRORS,
    INFRASTRUCTURE_MAX_RETRIES,
    transient_store_error,
)
from tasks.runtime import clients

log = logging.getLogger("parley.tasks")

MAX_REDELIVERIES = 5
REDELIVERIES_PREFIX = "parley:deliveries:"


@dataclass(frozen=True)
class _Redeliveries:
    key: str
    count: int


class StageTask(Task):  # type: ignore[type-arg]
    """Every stage takes ``(tenant_id, message_id)`` and returns the message id."""

    stage = ""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        counter = self._count_redelivery(args[0])
        try:
            return self._run(counter, *args, **kwargs)
        finally:
            if counter is not None:
                self._forget(counter.key)

    def _run(self, counter: _Redeliveries | None, *args: Any, **kwargs: Any) -> Any:
        if counter is not None and counter.count >= MAX_REDELIVERIES:
            from tasks.failures import dead_letter

            c = clients()
            message = c.messages.find(args[0], args[1])
            if message is not None:
                error = PoisonMessage(f"{self.name} delivered {MAX_REDELIVERIES}+ times")
                dead_letter(c, message, self.stage, error, "poison", MAX_REDELIVERIES)
            return args[1]
        try:
            # What the run cost the stores, exported per stage (storage/round_trips.py).
            with counting() as round_trips:
                try:
                    with tenant_slot(self, args[0]):  # one tenant's flood cannot hold them all
                        result = super().__call__(*args, **kwargs)
                finally:
                    observe_round_trips(self.stage, round_trips)
            # One line a stage run: with the request id and the turn's ids (tasks/log_context.py)
            # it is how an operator follows a message through the chain.
            log.info("stage %s ran", self.stage)
            return result
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

    def _count_redelivery(self, tenant_id: str) -> _Redeliveries | None:
        """This attempt's redeliveries so far, this one included; None for a first delivery
        (or one that cannot be counted), which is never poison."""
        request = self.request
        if not request.id or request.called_directly:
            return None
        if not (request.delivery_info or {}).get("redelivered"):
            return None
        key = f"{REDELIVERIES_PREFIX}{tenant_id}:{request.id}:{request.retries}"
        ttl = round(self.app.conf.broker_transport_options.get("visibility_timeout", 3600))
        try:
            pipe = clients().redis.pipeline(transaction=False)  # one round trip
            pipe.incr(key)
            pipe.expire(key, ttl * (MAX_REDELIVERIES + 1))
            count, _ = pipe.execute()
        except RedisError:
            return None  # the broker is Redis too: this delivery cannot be counted; run it
        return _Redeliveries(key, int(count))

    def _forget(self, key: str) -> None:
        try:
            clients().redis.delete(key)
        except RedisError:
            log.warning("could not delete redelivery counter %s; it expires on its own", key)

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
