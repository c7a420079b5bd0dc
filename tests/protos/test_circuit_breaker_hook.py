"""The breaker tells its ``on_open`` hook once per outage, not on every failed probe."""

from __future__ import annotations

import pytest

from core.errors import TransientError
from protos.circuit_breaker import CircuitBreaker


def test_on_open_is_told_when_the_circuit_opens_and_again_only_after_it_closed() -> None:
    now = [0.0]
    opened: list[tuple[str, int]] = []
    breaker = CircuitBreaker("engine", 3, 5.0, lambda: now[0], lambda *told: opened.append(told))
    for _ in range(2):
        breaker.failed()
    assert opened == []
    breaker.failed()
    assert opened == [("engine", 3)]
    with pytest.raises(TransientError):
        breaker.before_call()
    now[0] = 6.0
    breaker.before_call()  # the probe
    breaker.failed()  # open again: the same outage
    assert opened == [("engine", 3)]
    now[0] = 12.0
    breaker.before_call()
    breaker.succeeded()
    for _ in range(3):
        breaker.failed()
    assert opened == [("engine", 3), ("engine", 3)]


def test_a_failing_hook_never_breaks_the_call() -> None:
    def boom(name: str, failures: int) -> None:
        raise RuntimeError("observer down")

    breaker = CircuitBreaker("hub", 1, 5.0, lambda: 0.0, boom)
    breaker.failed()  # does not raise
    with pytest.raises(TransientError):
        breaker.before_call()
