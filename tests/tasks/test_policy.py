"""The retry policy as data: full jitter within the cap, hints first, bounded attempts and age,
and which store errors are worth another try."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pymongo.errors import OperationFailure

from core.timeutil import utcnow
from tasks.policy import DELIVERY, RetryPolicy, delivery_policy, transient_store_error

POLICY = RetryPolicy(max_attempts=4, base_seconds=2, cap_seconds=10, max_age_seconds=60)


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 8])
def test_backoff_is_full_jitter_below_the_growing_ceiling(attempt: int) -> None:
    ceiling = min(10, 2 * 2 ** (attempt - 1))
    delays = [POLICY.delay(attempt) for _ in range(300)]
    assert all(0 <= delay <= ceiling for delay in delays)
    assert max(delays) > ceiling / 2  # spread over the range, not a fixed wait
    assert min(delays) < ceiling / 2


def test_a_providers_hint_replaces_the_backoff() -> None:
    assert POLICY.delay(1, hint=3.0) == 3.0
    assert POLICY.delay(6, hint=45.0) == 45.0


def test_attempts_and_age_are_bounded() -> None:
    now = utcnow()
    assert POLICY.verdict(3, now - timedelta(seconds=5), now) is None
    assert POLICY.verdict(4, now - timedelta(seconds=5), now) == "exhausted"
    assert POLICY.verdict(1, now - timedelta(seconds=61), now) == "expired"


def test_a_lower_configured_attempt_limit_wins_and_a_higher_one_does_not() -> None:
    assert delivery_policy("messenger", 3).max_attempts == 3
    assert delivery_policy("messenger", 99).max_attempts == DELIVERY["messenger"].max_attempts


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (OperationFailure("database is locked (5) (SQLITE_BUSY)", code=1), True),
        (OperationFailure("interrupted at shutdown", code=11600), True),
        (OperationFailure("not primary", code=10107), True),
        (OperationFailure("write conflict", code=112, details={"errorLabels": []}), False),
        (OperationFailure("unknown operator: $foo", code=2), False),
        (
            OperationFailure("retry me", code=0, details={"errorLabels": ["RetryableWriteError"]}),
            True,
        ),
        (ValueError("database is locked"), False),  # only the store's own answers count
    ],
)
def test_only_passing_store_refusals_are_retried(error: Exception, transient: bool) -> None:
    assert transient_store_error(error) is transient
