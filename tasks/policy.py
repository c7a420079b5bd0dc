"""Retry policy as data, in one place: which errors each stage retries, and how it backs off."""

from __future__ import annotations

from typing import Any

from pymongo.errors import AutoReconnect, ConnectionFailure, NetworkTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import TransientError
from core.settings import get_settings

# Infrastructure hiccups every stage rides out by retrying.
INFRASTRUCTURE_ERRORS: tuple[type[Exception], ...] = (
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    RedisConnectionError,
    RedisTimeoutError,
)


def stage_retry(max_retries: int = 5, backoff_max: int = 60) -> dict[str, Any]:
    """Celery task options: exponential backoff with full jitter on transient errors only.

    ``backoff_max`` stays far below the broker's visibility timeout so a waiting retry is
    never redelivered as a second copy.
    """
    return {
        "autoretry_for": (TransientError, *INFRASTRUCTURE_ERRORS),
        "retry_backoff": True,
        "retry_backoff_max": backoff_max,
        "retry_jitter": True,
        "max_retries": max_retries,
    }


def engine_retry() -> dict[str, Any]:
    """The engine's policy: UNAVAILABLE and DEADLINE_EXCEEDED arrive here as TransientError."""
    return stage_retry(max_retries=get_settings().engine_retry_max, backoff_max=30)
