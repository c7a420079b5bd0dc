"""A thin typed client for the MCP engine (channel, health, breaker and error mapping come from
``protos.grpc_client``).

grpc.RpcError
├── UNAVAILABLE, DEADLINE_EXCEEDED,
│   RESOURCE_EXHAUSTED, ABORTED      → core.errors.TransientError (counted by the breaker)
└── any other status                 → core.errors.PermanentError
an open circuit                      → core.errors.TransientError, without calling the engine
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Unpack

import grpc

from protos import mcp_engine_pb2, mcp_engine_pb2_grpc
from protos.grpc_client import BreakerOptions, GrpcClient
from protos.request_ids import outgoing


class EngineClient(GrpcClient):
    """One channel to the engine; create it per process, after any fork.

    Calls wait for the channel to (re)connect until their deadline instead of failing at once,
    so an engine restart costs a short wait rather than a retry with backoff; while the breaker
    is open they fail fast instead of each waiting out its deadline.
    """

    service = "engine"
    transient_codes = frozenset(
        {
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.StatusCode.ABORTED,
        }
    )

    def __init__(self, addr: str, **breaker: Unpack[BreakerOptions]) -> None:
        super().__init__(addr, **breaker)
        self._stub = mcp_engine_pb2_grpc.McpEngineStub(self._channel)

    def generate(
        self, request: mcp_engine_pb2.GenerateRequest, timeout: float
    ) -> mcp_engine_pb2.GenerateResponse:
        """The engine's whole reply for one turn."""
        return self._call(
            "GenerateResponse",
            lambda: self._stub.GenerateResponse(
                request, timeout=timeout, wait_for_ready=True, metadata=outgoing()
            ),
        )

    def stream(
        self, request: mcp_engine_pb2.GenerateRequest, timeout: float
    ) -> Iterator[mcp_engine_pb2.ResponseChunk]:
        """The engine's reply as chunks; the call is cancelled if the caller stops early."""
        return self._stream(
            "StreamResponse",
            lambda: self._stub.StreamResponse(
                request, timeout=timeout, wait_for_ready=True, metadata=outgoing()
            ),
        )

    def update_context(
        self, request: mcp_engine_pb2.UpdateContextRequest, timeout: float
    ) -> mcp_engine_pb2.UpdateContextResponse:
        """Merges a context update into the engine's copy and returns the merged context."""
        return self._call(
            "UpdateContext",
            lambda: self._stub.UpdateContext(
                request, timeout=timeout, wait_for_ready=True, metadata=outgoing()
            ),
        )
