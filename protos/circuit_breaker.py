"""A circuit breaker for a client of one dependency: after enough transient failures in a row,
calls fail fast for a while instead of each waiting for a dependency that is down.

closed ── ``threshold`` transient failures in a row ──▶ open (calls raise TransientError)
open ── ``open_seconds`` later ──▶ half-open: one probe goes out
half-open ── the probe succeeds ──▶ closed;  the probe fails ──▶ open again
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.errors import TransientError

Clock = Callable[[], float]


class CircuitBreaker:
    """Thread-safe; ``name`` is the dependency, as the fail-fast error names it."""

    def __init__(self, name: str, threshold: int, open_seconds: float, clock: Clock) -> None:
        self._name = name
        self._threshold = threshold
        self._open_seconds = open_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    def before_call(self) -> None:
        """Returns if a call may go out; raises TransientError while the circuit is open."""
        with self._lock:
            if self._opened_at is None:
                return
            waited = self._clock() - self._opened_at
            if waited >= self._open_seconds and not self._probing:
                self._probing = True  # half-open: this call is the probe
                return
            failures = self._failures
        raise TransientError(
            f"{self._name} circuit open after {failures} failures in a row: failing fast"
        )

    def succeeded(self) -> None:
        """The dependency answered (an error it chose to return counts as an answer)."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def failed(self) -> None:
        """The call failed in a way that says the dependency may be down."""
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self._threshold:
                self._opened_at = self._clock()
                self._probing = False
