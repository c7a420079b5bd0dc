"""A fake OpenAI-compatible chat-completions server: real HTTP on 127.0.0.1, for tests.

It records every request, answers ``POST /v1/chat/completions`` with a completion, and can be
told to answer an error status, to hang, or to hold its answers until told to go on. Asked with
``stream: true`` it answers server-sent events, one ``chat.completion.chunk`` per piece of
``stream_pieces`` (default: ``reply_text`` cut into words), each flushed on its own, then
``data: [DONE]``; ``before_last_piece`` (an event) holds the last piece back until it is set, and
``cut_stream_after`` closes the stream after that many pieces, without ``[DONE]``. Its error
bodies echo the Authorization header on purpose, so a test can prove that the engine never
passes upstream bodies on.

A ``response_format`` is checked the way the API checks it: ``json_schema`` needs a ``name``
(letters, digits, ``_``, ``-``, at most 64) and a ``schema``; with ``strict`` every object must
list all of its properties in ``required`` and set ``additionalProperties: false``, and the root
must be an object, not ``anyOf``. A refusal is HTTP 400 ``invalid_request_error``. Asked for a
JSON schema, the fake answers ``reply_json`` (a JSON document, as the model would write it)
when it is set, else ``reply_text``.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

HANG_LIMIT_SECONDS = 10.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any


class FakeOpenAI:
    """Start with ``with FakeOpenAI() as fake:``; point clients at ``fake.base_url``."""

    def __init__(self, reply_text: str = "Hello from the fake model.") -> None:
        self.reply_text = reply_text
        self.requests: list[RecordedRequest] = []
        self.status = 200
        self.hanging = False
        self.holding = False
        self._let_go = threading.Event()
        self.raw_reply: bytes | None = None  # when set, sent as-is with the status
        self.release = threading.Event()
        self.stream_pieces: list[str] | None = None
        self.before_last_piece: threading.Event | None = None
        self.last_piece_waited_out = False  # before_last_piece was never set
        self.cut_stream_after: int | None = None
        self.reply_json: Any = None
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def answer_status(self, status: int) -> None:
        self.status = status

    def hang(self) -> None:
        """Accept requests but answer none of them until the fake stops."""
        self.hanging = True

    def hold(self) -> None:
        """Answer requests only once ``let_go()`` is called (a slow completion)."""
        self.holding = True

    def let_go(self) -> None:
        """Answer the held requests, and the next ones at once."""
        self.holding = False
        self._let_go.set()

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release.set()
        self._let_go.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def pieces(self) -> list[str]:
        if self.stream_pieces is not None:
            return self.stream_pieces
        return re.findall(r"\s*\S+\s*|\s+", self.reply_text)

    def chunk(self, model: str, delta: dict[str, str], finish: str | None = None) -> bytes:
        """One server-sent event of a streamed completion."""
        chunk = {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(chunk)}\n\n".encode()

    def completion(self, model: str, structured: bool = False) -> dict[str, Any]:
        content = self.reply_text
        if structured and self.reply_json is not None:
            content = json.dumps(self.reply_json)
        return {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = json.loads(raw) if raw else None
        fake.requests.append(RecordedRequest("POST", self.path, headers, body))
        if fake.hanging:
            fake.release.wait(HANG_LIMIT_SECONDS)
            self.close_connection = True
            return
        if fake.holding:
            fake._let_go.wait(HANG_LIMIT_SECONDS)
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": f"no route {self.path}"}})
        elif fake.raw_reply is not None:
            self._send_bytes(fake.status, fake.raw_reply)
        elif (problem := _format_problem((body or {}).get("response_format"))) is not None:
            error = {
                "message": problem,
                "type": "invalid_request_error",
                "param": "response_format",
            }
            self._send(400, {"error": error | {"code": None}})
        elif fake.status == 200 and (body or {}).get("stream") is True:
            self._send_events(str(body.get("model", "")))
        elif fake.status == 200:
            structured = ((body or {}).get("response_format") or {}).get("type") == "json_schema"
            model = str((body or {}).get("model", ""))
            self._send(200, fake.completion(model, structured))
        else:
            echo = headers.get("authorization", "")
            self._send(fake.status, {"error": {"message": f"rejected ({echo})", "type": "fake"}})

    def _send_events(self, model: str) -> None:
        fake = self.server.fake
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()  # HTTP/1.0 without a length: the body ends when the socket closes
        self._flush(fake.chunk(model, {"role": "assistant", "content": ""}))
        pieces = fake.pieces()
        for n, piece in enumerate(pieces):
            if n == fake.cut_stream_after:
                return
            if n == len(pieces) - 1 and fake.before_last_piece is not None:
                fake.last_piece_waited_out = not fake.before_last_piece.wait(HANG_LIMIT_SECONDS)
            self._flush(fake.chunk(model, {"content": piece}))
        self._flush(fake.chunk(model, {}, finish="stop"))
        self._flush(b"data: [DONE]\n\n")

    def _flush(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        self._send_bytes(status, json.dumps(payload).encode())

    def _send_bytes(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the recorded requests are the log."""


_SCHEMA_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _format_problem(response_format: Any) -> str | None:
    """Why the API would refuse this ``response_format``; None when it is absent or valid."""
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind in ("text", "json_object"):
        return None
    if kind != "json_schema":
        return "Invalid value for 'response_format.type'."
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or not _SCHEMA_NAME.fullmatch(str(spec.get("name", ""))):
        return "Invalid 'response_format.json_schema.name': it must match ^[a-zA-Z0-9_-]{1,64}$."
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        return "Missing required parameter: 'response_format.json_schema.schema'."
    if spec.get("strict") is True:
        if schema.get("type") != "object" or "anyOf" in schema:
            return (
                f"Invalid schema for response_format '{spec['name']}': the root must be an object."
            )
        return _strict_problem(schema, spec["name"], ())
    return None


def _strict_problem(node: Any, name: str, path: tuple[str, ...]) -> str | None:
    if isinstance(node, list):
        for n, item in enumerate(node):
            if (problem := _strict_problem(item, name, (*path, str(n)))) is not None:
                return problem
        return None
    if not isinstance(node, dict):
        return None
    if node.get("type") == "object" or "properties" in node:
        where = f"Invalid schema for response_format '{name}': In context={path}"
        missing = sorted(set(node.get("properties", {})) - set(node.get("required", [])))
        if missing:
            return f"{where}, 'required' must include every key in properties. Missing {missing}."
        if node.get("additionalProperties") is not False:
            return f"{where}, 'additionalProperties' is required to be supplied and to be false."
    for key, value in node.items():
        if (problem := _strict_problem(value, name, (*path, key))) is not None:
            return problem
    return None
