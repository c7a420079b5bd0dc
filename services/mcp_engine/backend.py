"""The contract every MCP engine backend meets, and the one error a backend may raise."""

from __future__ import annotations

from typing import Protocol

import grpc

from protos import mcp_engine_pb2


class BackendError(Exception):
    """A turn the backend cannot answer, with the gRPC status the engine should abort with.

    ``detail`` reaches the caller, so it never carries credentials or upstream bodies.
    """

    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(f"{code.name}: {detail}")
        self.code = code
        self.detail = detail


class Backend(Protocol):
    """Turns one request, whose session context already holds the engine's stored context,
    into a reply; called from many server threads at once."""

    def generate(self, request: mcp_engine_pb2.GenerateRequest) -> mcp_engine_pb2.GenerateResponse:
        """The reply for one turn; raises ``BackendError`` when it cannot answer."""
        ...

    def close(self) -> None:
        """Releases the backend's clients when the server stops."""
        ...
