"""Retry policy as data, in one place: per channel for delivery, for the engine, for stages.

Backoff is exponential with full jitter, bounded in attempts and in age; a provider's own hint
(``Retry-After``) replaces the backoff; permanent errors are never retried. No countdown is
longer than ``MAX_COUNTDOWN`` — far below the broker's visibility timeout, so a waiting task is
never redelivered as a second copy; a longer wait is written to MongoDB (``next_attempt_at``)
and the reconciler re-drives the turn when it is due.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    WTimeoutError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import TransientError

MAX_COUNTDOWN = 300.0  # seconds; celeryconfig's visibility_timeout is 3600
INFRASTRUCTURE_MAX_RETRIES = 12
# How long a stage waits before looking again when an earlier turn of the conversation is
# still on its way (ordering) or the provider account's pace is used up.
WAIT_COUNTDOWN = 0.5

# A store that did not answer within PARLEY_MONGO_TIMEOUT_SECONDS is down for now, not wrong:
# NetworkTimeout (no answer), ExecutionTimeout (the server stopped the operation at the client's
# deadline), WTimeoutError (the write concern was not confirmed in time; stages are idempotent).
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    ExecutionTimeout,
    WTimeoutError,
    RedisConnectionError,
    RedisTimeoutError,
)

# Server answers that mean "not now" rather than "never": MongoDB's retryable codes (shutting
# down, stepping down, not primary, timed out, ...) and FerretDB's SQLite busy lock, which it
# reports as an internal error once its 10 s busy timeout runs out under heavy load.
TRANSIENT_STORE_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
_TRANSIENT_STORE_TEXT = ("SQLITE_BUSY", "database is locked")


def transient_store_error(exc: Exception) -> bool:
    if not isinstance(exc, OperationFailure):
        return False
    return (
        exc.timeout  # pymongo's own word: the operation ran out of time (e.g. a bulk write's)
        or exc.code in TRANSIENT_STORE_CODES
        or exc.has_error_label("RetryableWriteError")
        or any(text in str(exc) for text in _TRANSIENT_STORE_TEXT)
    )


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int  # including the first
    base_seconds: float
    cap_seconds: float
    max_age_seconds: float  # from the first attempt

    def delay(self, attempt: int, hint: float | None = None) -> float:
        """Seconds before attempt ``attempt + 1`` (``attempt`` counts failures so far, from 1)."""
        if hint is not None:
            return hint  # the provider said when; jitter would only make it later or too early
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 (jitter, not security)

    def verdict(
        self, attempts: int, first_attempt_at: datetime, now: datetime, throttled: bool = False
    ) -> str | None:
        """Why to stop retrying (``exhausted`` or ``expired``), or None to go on. A provider
        that throttles (``throttled``: it said when to come back) is waited out for as long as
        the policy's age allows, however many refusals that takes: it refused nothing for good."""
        if attempts >= self.max_attempts and not throttled:
            return "exhausted"
        if now - first_attempt_at > timedelta(seconds=self.max_age_seconds):
            return "expired"
        return None


# Providers retry our webhooks for days, but a reply that is hours late is worse than none.
DELIVERY: dict[str, RetryPolicy] = {
    "whatsapp": RetryPolicy(max_attempts=8, base_seconds=2, cap_seconds=120, max_age_seconds=3600),
    "messenger": RetryPolicy(max_attempts=8, base_seconds=2, cap_seconds=120, max_age_seconds=3600),
    "slack": RetryPolicy(max_attempts=8, base_seconds=1, cap_seconds=60, max_age_seconds=1800),
    "teams": RetryPolicy(max_attempts=6, base_seconds=2, cap_seconds=20, max_age_seconds=1800),
}
DEFAULT_DELIVERY = RetryPolicy(max_attempts=5, base_seconds=1, cap_seconds=30, max_age_seconds=600)


def delivery_policy(channel: str, max_attempts: int | None = None) -> RetryPolicy:
    policy = DELIVERY.get(channel, DEFAULT_DELIVERY)
    if max_attempts is not None and max_attempts < policy.max_attempts:
        return replace(policy, max_attempts=max_attempts)
    return policy


def engine_policy(max_retries: int) -> RetryPolicy:
    """UNAVAILABLE and DEADLINE_EXCEEDED arrive as TransientError; after this the user gets the
    fallback reply and the turn is dead-lettered."""
    return RetryPolicy(
        max_attempts=max_retries + 1, base_seconds=1, cap_seconds=8, max_age_seconds=120
    )


def infrastructure_retry() -> dict[str, Any]:
    """Celery options every stage uses to ride out MongoDB, Redis or Kafka restarts. Counted by
    Celery (MongoDB may be the thing that is down); when they run out the turn is left to the
    reconciler, which re-drives it once the store answers again."""
    return {
        "autoretry_for": (TransientError, *INFRASTRUCTURE_ERRORS),
        "retry_backoff": 1,
        "retry_backoff_max": 30,
        "retry_jitter": True,
        "max_retries": INFRASTRUCTURE_MAX_RETRIES,
    }


@dataclass(frozen=True)
class Pace:
    """A provider's send limit: ``rate`` per second with bursts of ``burst``, per ``scope``
    ("account", or the reply_to key naming a narrower bucket, e.g. Slack's channel)."""

    rate: float
    burst: float
    scope: str = "account"


# Documented limits, kept a little under: Slack ~1 msg/s per channel; WhatsApp 80 msg/s per
# number; Messenger ~ the Send API's per-page rate; Teams 7 per second per conversation.
PACES: dict[str, Pace] = {
    "slack": Pace(rate=1.0, burst=3, scope="channel"),
    "whatsapp": Pace(rate=70.0, burst=80),
    "messenger": Pace(rate=40.0, burst=40),
    "teams": Pace(rate=6.0, burst=7, scope="conversation_id"),
}
