"""A circuit breaker for a client of one dependency: after enough transient failures in a row,
calls fail fast for a while instead of each waiting for a dependency that is down.

closed ── ``threshold`` transient failures in a row ──▶ open (calls raise TransientError)
open ── ``open_seconds`` later ──▶ half-open: one probe goes out
half-open ── the probe succeeds ──▶ closed;  the probe fails ──▶ open again

Each move to open is told to ``on_open`` (the workers publish a ``system.error``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from core.errors import TransientError

log = logging.getLogger("parley.breaker")

Clock = Callable[[], float]
# Told when the circuit opens: the dependency's name and the failures in a row that opened it.
OnOpen = Callable[[str, int], None]


class CircuitBreaker:
    """Thread-safe; ``name`` is the dependency, as the fail-fast error names it."""

    def __init__(
        self,
        name: str,
        threshold: int,
        open_seconds: float,
        clock: Clock,
        on_open: OnOpen | None = None,
    ) -> None:
        self._name = name
        self._on_open = on_open
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
            # Told once per outage: a failed probe re-opens a circuit that was open already.
            opens = self._opened_at is None and self._failures >= self._threshold
            if self._probing or self._failures >= self._threshold:
                self._opened_at = self._clock()
                self._probing = False
            failures = self._failures
        if opens and self._on_open is not None:
            try:
                self._on_open(self._name, failures)
            except Exception:  # an observer never breaks the call it observes
                log.exception("the breaker's on-open hook failed")
