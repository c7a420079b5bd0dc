"""A Slack incoming webhook as a real local HTTP server: ``POST /services/…`` with a JSON body
that has a ``text``, answered ``200 ok`` as Slack does (``400 invalid_payload`` otherwise)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class SlackWebhook:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw)
                    ok = (
                        self.path.startswith("/services/")
                        and self.headers.get("content-type") == "application/json"
                        and isinstance(body.get("text"), str)
                    )
                except ValueError:
                    ok = False
                if ok:
                    with fake._arrived:
                        fake.posts.append({"path": self.path, **body})
                        fake._arrived.notify_all()
                answer = b"ok" if ok else b"invalid_payload"
                self.send_response(200 if ok else 400)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, hook: str) -> str:
        return f"http://127.0.0.1:{self.port}/services/T0000/B0000/{hook}"

    def to(self, hook: str) -> list[dict[str, Any]]:
        with self._arrived:
            return [p for p in self.posts if p["path"].endswith(f"/{hook}")]

    def wait_for(self, hook: str, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        with self._arrived:
            self._arrived.wait_for(
                lambda: len([p for p in self.posts if p["path"].endswith(f"/{hook}")]) >= count,
                timeout,
            )
        got = self.to(hook)
        assert len(got) >= count, f"{len(got)} of {count} Slack posts to {hook} arrived"
        return got

    def __enter__(self) -> SlackWebhook:
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
