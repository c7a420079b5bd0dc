"""The one Retry-After reading: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from core.retry_after import retry_after_seconds

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_a_number_of_seconds_is_read_as_seconds() -> None:
    assert retry_after_seconds({"retry-after": "7"}, NOW) == 7.0


def test_a_date_in_the_future_is_the_seconds_until_it() -> None:
    assert retry_after_seconds({"retry-after": "Sat, 01 Mar 2025 12:02:30 GMT"}, NOW) == 150.0


def test_a_date_already_past_means_retry_now() -> None:
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, NOW) == 0.0


def test_negative_seconds_mean_retry_now() -> None:
    assert retry_after_seconds({"retry-after": "-3"}, NOW) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "inf", "nan", "Mon, 99 Foo 2025 00:00:00 GMT"])
def test_garbage_is_no_hint(value: str) -> None:
    assert retry_after_seconds({"retry-after": value}, NOW) is None


def test_no_header_is_no_hint() -> None:
    assert retry_after_seconds({}, NOW) is None


def test_the_header_name_is_case_insensitive_in_a_response() -> None:
    assert retry_after_seconds(httpx.Headers({"Retry-After": "2"}), NOW) == 2.0
