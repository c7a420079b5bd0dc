"""The base of Parley's gRPC clients: one insecure channel, the standard health check, close, a
circuit breaker, and the mapping of gRPC failures to Parley's error tree, written once.

grpc.RpcError
├── a status in the client's ``transient_codes`` → core.errors.TransientError (breaker counts it)
└── any other status                             → core.errors.PermanentError
an open circuit                                  → core.errors.TransientError, without a call
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import ClassVar, TypedDict, TypeVar, Unpack

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from core.errors import DependencyError, PermanentError, TransientError
from protos.circuit_breaker import CircuitBreaker, Clock, OnOpen

# Reconnect quickly after a server restart; keep this below the breaker's open time, so the
# channel has tried again by the time the half-open probe goes out.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
]

Answer = TypeVar("Answer")


class BreakerOptions(TypedDict, total=False):
    """A client's breaker: ``breaker_threshold`` (5) failures, ``breaker_open_seconds`` (5.0)."""

    breaker_threshold: int
    breaker_open_seconds: float
    clock: Clock
    on_open: OnOpen


class GrpcClient:
    """One channel to ``addr``; create the client per process, after any fork. Once
    ``breaker_threshold`` calls in a row have failed transiently, calls fail fast for
    ``breaker_open_seconds`` (``protos.circuit_breaker``)."""

    service: ClassVar[str]  # the server's name, as error messages give it
    transient_codes: ClassVar[frozenset[grpc.StatusCode]]

    def __init__(self, addr: str, **breaker: Unpack[BreakerOptions]) -> None:
        self._channel = grpc.insecure_channel(addr, options=CHANNEL_OPTIONS)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._breaker = CircuitBreaker(
            self.service,
            breaker.get("breaker_threshold", 5),
            breaker.get("breaker_open_seconds", 5.0),
            breaker.get("clock", time.monotonic),
            breaker.get("on_open"),
        )

    @classmethod
    def error(cls, method: str, exc: grpc.RpcError) -> DependencyError:
        """The Parley error for a failed call; its message names the gRPC status."""
        code = exc.code()
        kind = TransientError if code in cls.transient_codes else PermanentError
        return kind(f"{cls.service} {method} failed: {code.name}: {exc.details() or 'no details'}")

    def is_serving(self, timeout: float = 1.0) -> bool:
        """Whether the server's standard health service reports SERVING; False on any error."""
        request = health_pb2.HealthCheckRequest(service="")  # "" is the whole server
        try:
            response = self._health.Check(request, timeout=timeout)
        except Exception:  # readiness is a yes/no question: any failure is a no
            return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    def close(self) -> None:
        """Closes the channel; in-flight calls are cancelled."""
        self._channel.close()

    def _call(self, method: str, call: Callable[[], Answer]) -> Answer:
        """``call()`` through the breaker, its gRPC failure mapped to Parley's errors."""
        self._breaker.before_call()
        try:
            answer = call()
        except grpc.RpcError as exc:
            raise self._failed(method, exc) from exc
        except BaseException:
            self._breaker.failed()  # never leave a half-open probe outstanding
            raise
        self._breaker.succeeded()
        return answer

    def _stream(
        self, method: str, start: Callable[[], grpc.CallIterator[Answer]]
    ) -> Iterator[Answer]:
        """The items of a server-streaming call through the breaker; cancelled if the caller
        stops early."""
        self._breaker.before_call()
        call = start()
        try:
            yield from call
        except grpc.RpcError as exc:
            raise self._failed(method, exc) from exc
        except GeneratorExit:
            self._breaker.succeeded()  # the caller stopped reading: the server was answering
            raise
        except BaseException:
            self._breaker.failed()
            raise
        else:
            self._breaker.succeeded()
        finally:
            call.cancel()  # type: ignore[no-untyped-call]  # grpc-stubs leaves cancel() untyped

    def _failed(self, method: str, exc: grpc.RpcError) -> DependencyError:
        error = self.error(method, exc)
        if isinstance(error, TransientError):
            self._breaker.failed()
        else:  # the server answered, so it is up
            self._breaker.succeeded()
        return error
