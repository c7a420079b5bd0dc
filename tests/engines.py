"""The real rules backend behind a test's own gRPC server, remembering what it was asked."""

from __future__ import annotations

import threading
from pathlib import Path

from protos import mcp_engine_pb2 as pb
from services.mcp_engine.rules import DEFAULT_RULES_FILE, RulesBackend


class CountingBackend:
    """The real rules backend, counting the turns it answers."""

    def __init__(self) -> None:
        self.inner = RulesBackend.from_file(Path(DEFAULT_RULES_FILE))
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def generate(self, request: pb.GenerateRequest) -> pb.GenerateResponse:
        with self._lock:
            self.calls.append(request.request_id)
        return self.inner.generate(request)

    def close(self) -> None:
        self.inner.close()


class RecordingBackend(CountingBackend):
    """The real rules backend, keeping each request it was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[pb.GenerateRequest] = []

    def generate(self, request: pb.GenerateRequest) -> pb.GenerateResponse:
        self.requests.append(request)
        return super().generate(request)
