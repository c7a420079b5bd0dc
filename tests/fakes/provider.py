"""The base of every provider fake: a real HTTP server on 127.0.0.1 that records each request
and answers from the fake's own handler, unless a scripted fault (status, body, Retry-After, or
a hang) is queued for the next requests.

A provider fake subclasses ``ProviderFake`` and implements ``handle``; tests then use
``fake.requests`` (everything received, in order) and ``fake.fail_next(...)``/``fake.hang_next()``.
Indicators (a typing indicator, a read mark: ``is_indicator``) have their own fault queue, so
faults scripted for sends hit sends, whatever indicators a turn shows first:
``fake.fail_next(..., indicators=True)``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

HANG_LIMIT_SECONDS = 30.0


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    raw: bytes
    received_at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.raw)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.raw.decode()).items()}


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return b"" if self.body is None else json.dumps(self.body).encode()


@dataclass(frozen=True)
class _Fault:
    reply: Reply | None  # None: hang until released
    delay: float = 0.0  # > 0: answer normally, this many seconds late


class ProviderFake:
    """Start with ``with SomeFake() as fake:``; its ``base_url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._faults: deque[_Fault] = deque()
        self._indicator_faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def handle(self, request: Recorded) -> Reply:
        """The provider's answer to a request; subclasses implement their wire format."""
        raise NotImplementedError

    def is_indicator(self, request: Recorded) -> bool:
        """Whether ``request`` shows the user an indicator rather than sending a message."""
        return False

    def fail_next(
        self,
        status: int,
        body: Any = None,
        retry_after: float | str | None = None,
        times: int = 1,
        indicators: bool = False,
    ) -> None:
        """Answer the next requests with ``status``; a text ``retry_after`` (an HTTP-date) is
        sent as written, a number as seconds."""
        if isinstance(retry_after, str):
            headers = {"Retry-After": retry_after}
        else:
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        with self._lock:
            queue = self._indicator_faults if indicators else self._faults
            queue.extend(_Fault(Reply(status, body, headers)) for _ in range(times))

    def hang_next(self, times: int = 1, indicators: bool = False) -> None:
        """The next requests get no answer until the fake stops (the client must time out)."""
        with self._lock:
            queue = self._indicator_faults if indicators else self._faults
            queue.extend(_Fault(None) for _ in range(times))

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """The next requests are answered normally, but only after ``seconds``."""
        with self._lock:
            self._faults.extend(_Fault(None, delay=seconds) for _ in range(times))

    def requests_to(self, path_suffix: str) -> list[Recorded]:
        return [r for r in list(self.requests) if r.path.endswith(path_suffix)]

    def _answer(self, request: Recorded) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            queue = self._indicator_faults if self.is_indicator(request) else self._faults
            fault = queue.popleft() if queue else None
        if fault is not None and fault.delay > 0:
            self._release.wait(fault.delay)
        elif fault is not None:
            if fault.reply is None:
                self._release.wait(HANG_LIMIT_SECONDS)
            return fault.reply
        return self.handle(request)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: ProviderFake


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # kept-alive requests would otherwise wait on delayed ACKs

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        url = urlsplit(self.path)
        request = Recorded(
            method=self.command,
            path=url.path,
            query={k: v[0] for k, v in parse_qs(url.query).items()},
            headers={name.lower(): value for name, value in self.headers.items()},
            raw=raw,
        )
        reply = self.server.fake._answer(request)
        if reply is None:
            self.close_connection = True
            return
        data = reply.encoded()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the recorded requests are the log."""
