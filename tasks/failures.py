"""What a stage does when its work fails: retry by policy, wait, or dead-letter the turn.

    transient (provider 5xx, timeouts, engine UNAVAILABLE)  → retry with the policy's backoff
    rate limited                                             → retry no sooner than the hint
    policy exhausted / too old / permanent refusal           → dead letter (+ chat.message.failed)
    the same task redelivered again and again (poison)       → dead letter

Attempts are counted in MongoDB on the message (``attempts.<stage>``), so they survive
redeliveries and worker restarts; waits that are longer than a countdown may be are written to
``next_attempt_at`` and picked up by the reconciler.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, NoReturn

from celery import Task

from core.chat_events import message_failed
from core.states import Status
from core.system_events import dead_letter_error
from core.timeutil import as_utc, utcnow
from storage.documents import MessageDocument
from tasks import metrics
from tasks.ordering import pass_stage
from tasks.policy import MAX_COUNTDOWN, WAIT_COUNTDOWN, RetryPolicy
from tasks.runtime import WorkerClients

log = logging.getLogger("parley.tasks.failures")

# Celery reads ``max_retries=None`` as "the task's default", not "no limit". Waits and
# policy-driven retries are bounded by the policy and the reconciler, not by Celery's count.
NO_CELERY_LIMIT = 1_000_000


def count_attempt(
    c: WorkerClients, message: MessageDocument, stage: str, counted: bool = True
) -> tuple[int, Any]:
    """One more failed attempt at ``stage`` (not counted when ``counted`` is False, e.g. a
    throttled send): (attempts so far, first attempt time)."""
    now = utcnow()
    doc = c.messages.count_attempt(message["tenant_id"], message["_id"], stage, now, counted)
    if doc is None:
        return 1, now
    return int(doc.get("attempts", {}).get(stage, 0)), as_utc(doc["first_attempt_at"][stage])


def dead_letter(
    c: WorkerClients,
    message: MessageDocument,
    stage: str,
    error: Exception,
    classification: str,
    attempts: int,
    status: Status | None = Status.DEAD_LETTERED,
) -> None:
    """Park the turn with its reason; the failed event joins the outbox with the status change.
    ``status=None`` records the dead letter only (the turn goes on, e.g. with a fallback)."""
    now = utcnow()
    detail = f"{type(error).__name__}: {error}"[:500]
    metrics.DEAD_LETTERS.labels(stage, classification).inc()
    recorded = c.dead_letters.record(
        tenant_id=message["tenant_id"],
        message_id=message["_id"],
        conversation_id=message["conversation_id"],
        channel=message["channel"],
        stage=stage,
        attempts=attempts,
        error_type=type(error).__name__,
        error_message=str(error)[:500],
        classification=classification,
        at=now,
    )
    if status is Status.DEAD_LETTERED:
        c.messages.advance(
            message["tenant_id"],
            message["_id"],
            Status.DEAD_LETTERED,
            {"failure": {"stage": stage, "reason": classification, "error": detail}},
            events=[
                message_failed(message, stage, classification, detail, now),
                dead_letter_error(dict(recorded), detail),
            ],
        )
        # A parked turn no longer holds back the turns after it.
        pass_stage(c, message["tenant_id"], message["conversation_id"], message["_id"])
    else:  # the turn goes on: no status move to carry the event, so the telemetry queue does
        c.telemetry.record([dead_letter_error(dict(recorded), detail)])
    log.warning(
        "dead-lettered %s at %s (%s after %d attempts): %s",
        message["_id"],
        stage,
        classification,
        attempts,
        type(error).__name__,
    )


def retry_or_dead_letter(
    task: Task,  # type: ignore[type-arg]
    c: WorkerClients,
    message: MessageDocument,
    stage: str,
    policy: RetryPolicy,
    error: Exception,
    hint: float | None = None,
    throttled: bool = False,
) -> bool:
    """Retry by ``policy`` (raises celery's Retry, or returns False when the wait is left to
    the reconciler) or dead-letter the turn (returns True). A ``throttled`` refusal is not
    counted as an attempt: it is waited out within the policy's age."""
    verdict, attempts = schedule_retry(task, c, message, stage, policy, error, hint, throttled)
    if verdict is None:
        return False
    dead_letter(c, message, stage, error, verdict, attempts)
    return True


def schedule_retry(
    task: Task,  # type: ignore[type-arg]
    c: WorkerClients,
    message: MessageDocument,
    stage: str,
    policy: RetryPolicy,
    error: Exception,
    hint: float | None = None,
    throttled: bool = False,
) -> tuple[str | None, int]:
    """Count the attempt; raise celery's Retry when a retry is due soon, return (None, n) when
    it is due later than a countdown may wait, or (verdict, n) when the policy gives up."""
    attempts, first_at = count_attempt(c, message, stage, counted=not throttled)
    now = utcnow()
    verdict = policy.verdict(attempts, first_at, now, throttled)
    if verdict is not None:
        return verdict, attempts
    delay = policy.delay(max(attempts, 1), hint)
    c.messages.set_next_attempt(
        message["tenant_id"], message["_id"], now + timedelta(seconds=delay)
    )
    if delay > MAX_COUNTDOWN:
        log.info(
            "%s: next attempt of %s in %.0fs, left to the reconciler", stage, message["_id"], delay
        )
        return None, attempts
    raise task.retry(exc=error, countdown=delay, max_retries=NO_CELERY_LIMIT)


def wait(task: Task, reason: str, countdown: float | None = None) -> NoReturn:  # type: ignore[type-arg]
    """Look again shortly (sooner at first, then less often); waiting is not failing, so no
    attempt is counted."""
    if countdown is None:
        countdown = min(WAIT_COUNTDOWN * 2 ** min(task.request.retries, 3), 4.0)
    log.debug("waiting %.1fs: %s", countdown, reason)
    raise task.retry(countdown=countdown, max_retries=NO_CELERY_LIMIT)
