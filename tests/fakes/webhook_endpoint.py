"""A tenant's webhook endpoint as a real local HTTP server: it keeps every request and answers
each path with the statuses queued for it (then 200)."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookEndpoint:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._answers: dict[str, deque[int]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.arrived = threading.Condition(self._lock)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                with endpoint.arrived:
                    endpoint.requests.append(Received(self.path, headers, body))
                    queued = endpoint._answers[self.path]
                    status = queued.popleft() if queued else 200
                    endpoint.arrived.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def answer(self, path: str, *statuses: int) -> None:
        """Answer the next requests to ``path`` with ``statuses``, in order, then 200."""
        with self._lock:
            self._answers[path].extend(statuses)

    def received(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 60.0) -> list[Received]:
        """The first ``count`` requests to ``path``, waiting for them to arrive."""
        with self.arrived:
            self.arrived.wait_for(
                lambda: len([r for r in self.requests if r.path == path]) >= count, timeout
            )
        got = self.received(path)
        assert len(got) >= count, f"{path}: {len(got)} of {count} requests arrived"
        return got

    def __enter__(self) -> WebhookEndpoint:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
