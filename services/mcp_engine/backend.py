"""The contract every MCP engine backend meets, and the one error a backend may raise.

Every backend answers a turn whole (``Backend.generate``). A backend that can also hand out its
text as it is written is a ``StreamingBackend`` (the OpenAI-compatible one); ``StreamResponse``
streams its pieces for real. Any other backend (the rules) is streamed by cutting its whole
reply into words.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Protocol, runtime_checkable

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


# Text pieces as the backend writes them; the generator returns the whole reply at its end.
Pieces = Generator[str, None, mcp_engine_pb2.GenerateResponse]


@runtime_checkable
class StreamingBackend(Backend, Protocol):
    """A backend whose text can be read while it is being written."""

    def stream(self, request: mcp_engine_pb2.GenerateRequest) -> Pieces | None:
        """The turn's text pieces, then its whole reply; None when this turn is answered whole
        (a chooser whose chosen backend cannot stream). Raises ``BackendError`` from the
        generator, also after pieces went out."""
        ...
