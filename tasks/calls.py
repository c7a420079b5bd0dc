"""Outbound calls of a turn, told as ``integration.api.called`` (docs/event-catalogue.md),
and the engine breaker's opening, told as ``system.error``; through the telemetry queue
(storage/telemetry.py). No client is made here: the worker's clients hand theirs in."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from core.scopes import PLATFORM_TENANT
from core.system_events import BREAKER_OPEN, api_called, system_error
from storage.telemetry import Telemetry
from tasks import metrics


@dataclass
class _Turn:
    telemetry: Telemetry
    tenant_id: str
    target: str
    message_id: str | None
    answered: bool = False


_turn: ContextVar[_Turn | None] = ContextVar("parley_call_turn", default=None)


@contextlib.contextmanager
def calls_of(
    telemetry: Telemetry, tenant_id: str, target: str, message_id: str | None
) -> Iterator[None]:
    """Attribute the provider answers inside to this turn; a call that raised before any
    answer came (a timeout, a refused connection) is told with status None."""
    turn = _Turn(telemetry, tenant_id, target, message_id)
    token = _turn.set(turn)
    started = time.monotonic()
    try:
        yield
    except Exception:
        if not turn.answered:
            elapsed = (time.monotonic() - started) * 1e3
            telemetry.record(
                [
                    api_called(
                        tenant_id,
                        target,
                        "send",
                        None,
                        False,
                        elapsed,
                        channel=target,
                        message_id=message_id,
                    )
                ]
            )
        raise
    finally:
        _turn.reset(token)


def provider_answered(operation: str, status: int, latency_ms: float) -> None:
    """The channel runtime's hook: one provider answer, told for the turn it served (an
    answer outside any turn, e.g. a media download for the process stage, is not a send)."""
    turn = _turn.get()
    if turn is None:
        return
    turn.answered = True
    ok = 200 <= status < 300
    metrics.PROVIDER_SECONDS.labels(turn.target, str(status)).observe(latency_ms / 1e3)
    turn.telemetry.record(
        [
            api_called(
                turn.tenant_id,
                turn.target,
                operation,
                status,
                ok,
                latency_ms,
                channel=turn.target,
                message_id=turn.message_id,
            )
        ]
    )


@contextlib.contextmanager
def engine_call(telemetry: Telemetry, tenant_id: str, message_id: str) -> Iterator[None]:
    """One engine call of a turn, told as ``integration.api.called`` (target ``engine``;
    status 0, gRPC's OK, or None when it failed)."""
    started = time.monotonic()
    ok = False
    try:
        yield
        ok = True
    finally:
        elapsed = (time.monotonic() - started) * 1e3
        metrics.ENGINE_SECONDS.labels("ok" if ok else "error").observe(elapsed / 1e3)
        event = api_called(
            tenant_id, "engine", "Generate", 0 if ok else None, ok, elapsed, message_id=message_id
        )
        telemetry.record([event])


def breaker_opened(telemetry: Callable[[], Telemetry]) -> Callable[[str, int], None]:
    """The engine client's ``on_open`` hook: a ``system.error`` of kind ``breaker_open``."""

    def told(name: str, failures: int) -> None:
        metrics.BREAKER_OPENINGS.labels(name).inc()
        event = system_error(
            BREAKER_OPEN,
            PLATFORM_TENANT,
            name,
            reason="failures_in_a_row",
            target=name,
            error=f"{failures} failures in a row; calls fail fast for a while",
        )
        telemetry().record([event])

    return told
