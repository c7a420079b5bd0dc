"""A thin typed client for the MCP engine that maps gRPC failures to Parley's error tree once.

grpc.RpcError
├── UNAVAILABLE, DEADLINE_EXCEEDED,
│   RESOURCE_EXHAUSTED, ABORTED      → core.errors.TransientError
└── any other status                 → core.errors.PermanentError
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from core.errors import DependencyError, PermanentError, TransientError
from protos import mcp_engine_pb2, mcp_engine_pb2_grpc

TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)


def engine_error(method: str, exc: grpc.RpcError) -> DependencyError:
    """The Parley error for a failed engine call; its message names the gRPC status."""
    code = exc.code()
    error = TransientError if code in TRANSIENT_CODES else PermanentError
    return error(f"engine {method} failed: {code.name}: {exc.details() or 'no details'}")


class EngineClient:
    """One insecure channel to the engine; create it per process, after any fork.

    Calls wait for the channel to (re)connect until their deadline instead of failing at once,
    so an engine restart costs a short wait rather than a retry with backoff.
    """

    def __init__(self, addr: str) -> None:
        self._channel = grpc.insecure_channel(addr)
        self._stub = mcp_engine_pb2_grpc.McpEngineStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def generate(
        self, request: mcp_engine_pb2.GenerateRequest, timeout: float
    ) -> mcp_engine_pb2.GenerateResponse:
        """The engine's whole reply for one turn."""
        try:
            return self._stub.GenerateResponse(request, timeout=timeout, wait_for_ready=True)
        except grpc.RpcError as exc:
            raise engine_error("GenerateResponse", exc) from exc

    def stream(
        self, request: mcp_engine_pb2.GenerateRequest, timeout: float
    ) -> Iterator[mcp_engine_pb2.ResponseChunk]:
        """The engine's reply as chunks; the call is cancelled if the caller stops early."""
        call = self._stub.StreamResponse(request, timeout=timeout, wait_for_ready=True)
        try:
            yield from call
        except grpc.RpcError as exc:
            raise engine_error("StreamResponse", exc) from exc
        finally:
            call.cancel()  # type: ignore[no-untyped-call]  # grpc-stubs leaves cancel() untyped

    def update_context(
        self, request: mcp_engine_pb2.UpdateContextRequest, timeout: float
    ) -> mcp_engine_pb2.UpdateContextResponse:
        """Merges a context update into the engine's copy and returns the merged context."""
        try:
            return self._stub.UpdateContext(request, timeout=timeout, wait_for_ready=True)
        except grpc.RpcError as exc:
            raise engine_error("UpdateContext", exc) from exc

    def is_serving(self, timeout: float = 1.0) -> bool:
        """Whether the engine's standard health service reports SERVING; False on any error."""
        request = health_pb2.HealthCheckRequest(service="")  # "" is the whole server
        try:
            response = self._health.Check(request, timeout=timeout)
        except Exception:  # readiness is a yes/no question: any failure is a no
            return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    def close(self) -> None:
        """Closes the channel; in-flight calls are cancelled."""
        self._channel.close()
