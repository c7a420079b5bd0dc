"""The OpenAI-compatible backend: one chat-completions call per turn over a shared httpx client,
whole (``generate``) or streamed (``stream``: ``stream: true``, server-sent events read as they
arrive, each ``choices[0].delta.content`` a piece, until ``data: [DONE]``).

Upstream failures become gRPC statuses here, once:

    timeout, connection error, 429, 5xx   → UNAVAILABLE (worth retrying)
    a stream cut off before [DONE]        → UNAVAILABLE (after the pieces already sent)
    400, 413, 422                         → INVALID_ARGUMENT (this turn cannot be answered)
    any other non-2xx (401, 403, 404 ...) → FAILED_PRECONDITION (the engine is misconfigured)
    a 2xx without a text completion       → INTERNAL (also a stream event that is not JSON)

A whole turn asks for reply parts (``reply_schema``: text, buttons, cards, lists, locations ...)
through a strict JSON-schema ``response_format``, unless ``reply_parts`` is off for a server
without structured outputs; a completion that is not JSON is taken as one text part, so such a
server still answers, and one that claims parts that do not parse is INTERNAL. A streamed turn
asks for text: its deltas are shown to the visitor as they come, and JSON would not read.

A turn's ``engine`` settings (the tenant's) override the engine's own per request: ``model``
replaces the configured model, ``temperature`` is sent only when set (else the API's default
applies), and ``system_prompt`` replaces ``SYSTEM_PROMPT`` as the system message, whole: a tenant
writes the complete instructions for its assistant. Empty values mean "the engine's default".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import httpx
from pydantic import SecretStr

from protos import mcp_engine_pb2
from services.mcp_engine.backend import BackendError, Pieces
from services.mcp_engine.language import language_name, turn_language
from services.mcp_engine.reply_schema import NotReplyParts, parts_from_completion, response_format

SYSTEM_PROMPT = (
    "You are the assistant of a business, answering its customers in a chat. "
    "Reply briefly, politely and in the customer's language."
)

_ROLES = {
    mcp_engine_pb2.DIRECTION_INBOUND: "user",
    mcp_engine_pb2.DIRECTION_OUTBOUND: "assistant",
}
_INVALID_REQUEST = frozenset({400, 413, 422})


def chat_messages(request: mcp_engine_pb2.GenerateRequest) -> list[dict[str, str]]:
    """The system prompt (the tenant's, else ``SYSTEM_PROMPT``), a note naming the user's
    language when processing found it, the history as user/assistant turns, then the current
    user text (each message of a burst as a user message of its own).

    History entries without a direction are skipped: their speaker is unknown. Nothing else of
    ``processing`` is sent: entity values (an email the safety policy redacted from the text)
    would tell the API more than the text does.
    """
    system_prompt = request.engine.system_prompt or SYSTEM_PROMPT
    messages = [{"role": "system", "content": system_prompt}]
    language = turn_language(request)
    if language is not None:
        messages.append({"role": "system", "content": f"Answer in {language_name(language)}."})
    messages += [
        {"role": _ROLES[entry.direction], "content": entry.text}
        for entry in request.history
        if entry.direction in _ROLES
    ]
    current = [m.text for m in request.burst] or [request.text]
    messages += [{"role": "user", "content": text} for text in current]
    return messages


class OpenAIChatBackend:
    """Holds the process's one httpx client; the API key lives only in its default headers."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: SecretStr | None,
        timeout_seconds: float,
        reply_parts: bool = True,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key.get_secret_value()}"} if api_key else {}
        self._model = model
        self._reply_parts = reply_parts
        self._client = httpx.Client(
            base_url=base_url, headers=headers, timeout=httpx.Timeout(timeout_seconds)
        )

    def request_body(self, request: mcp_engine_pb2.GenerateRequest) -> dict[str, Any]:
        """The chat-completions body for one turn, with the tenant's settings applied."""
        settings = request.engine
        body: dict[str, Any] = {
            "model": settings.model or self._model,
            "messages": chat_messages(request),
        }
        if settings.HasField("temperature"):
            body["temperature"] = settings.temperature
        return body

    def generate(self, request: mcp_engine_pb2.GenerateRequest) -> mcp_engine_pb2.GenerateResponse:
        body = self.request_body(request)
        if self._reply_parts:
            body["response_format"] = response_format()
        with _upstream():
            answer = self._client.post("chat/completions", json=body)
        _raise_for_status(answer.status_code)
        content = _completion_text(answer)
        try:
            parts = parts_from_completion(content) if self._reply_parts else None
        except NotReplyParts as exc:
            detail = f"openai backend sent reply parts that do not parse: {exc}"
            raise BackendError(grpc.StatusCode.INTERNAL, detail) from None
        if parts is None:
            return _reply(content)
        if not parts:
            raise BackendError(grpc.StatusCode.INTERNAL, "openai backend sent no reply parts")
        return mcp_engine_pb2.GenerateResponse(backend="openai", parts=parts)

    def stream(self, request: mcp_engine_pb2.GenerateRequest) -> Pieces:
        body = {**self.request_body(request), "stream": True}
        pieces: list[str] = []
        with _upstream(), self._client.stream("POST", "chat/completions", json=body) as answer:
            _raise_for_status(answer.status_code)
            for data in _event_data(answer.iter_lines()):
                if data == "[DONE]":
                    return _reply(_checked_text("".join(pieces)))
                piece = _delta_text(data)
                if piece:
                    pieces.append(piece)
                    yield piece
        raise BackendError(grpc.StatusCode.UNAVAILABLE, "openai backend stream was cut off")

    def close(self) -> None:
        self._client.close()


@contextmanager
def _upstream() -> Iterator[None]:
    """Maps the client's timeouts and connection failures, also those in the middle of a body."""
    try:
        yield
    except httpx.TimeoutException:
        raise BackendError(grpc.StatusCode.UNAVAILABLE, "openai backend timed out") from None
    except httpx.TransportError as exc:
        detail = f"openai backend unreachable ({type(exc).__name__})"
        raise BackendError(grpc.StatusCode.UNAVAILABLE, detail) from None


def _reply(text: str) -> mcp_engine_pb2.GenerateResponse:
    response = mcp_engine_pb2.GenerateResponse(backend="openai")
    response.parts.add(text=text)
    return response


def _event_data(lines: Iterator[str]) -> Iterator[str]:
    """The ``data`` of each server-sent event (one line each, as the API sends them)."""
    for line in lines:
        if line.startswith("data:"):
            yield line.removeprefix("data:").strip()


def _delta_text(data: str) -> str:
    try:
        content = json.loads(data)["choices"][0]["delta"].get("content")
    except (ValueError, LookupError, TypeError, AttributeError):
        raise BackendError(
            grpc.StatusCode.INTERNAL, "openai backend sent a malformed stream event"
        ) from None
    return content if isinstance(content, str) else ""


def _raise_for_status(status: int) -> None:
    # Upstream bodies are never passed on: some echo part of the API key back.
    detail = f"openai backend answered HTTP {status}"
    if status == 429 or status >= 500:
        raise BackendError(grpc.StatusCode.UNAVAILABLE, detail)
    if status in _INVALID_REQUEST:
        raise BackendError(grpc.StatusCode.INVALID_ARGUMENT, detail)
    if not 200 <= status < 300:
        raise BackendError(grpc.StatusCode.FAILED_PRECONDITION, detail)


def _completion_text(answer: httpx.Response) -> str:
    try:
        content = answer.json()["choices"][0]["message"]["content"]
    except (ValueError, LookupError, TypeError):
        content = None
    return _checked_text(content)


def _checked_text(content: Any) -> str:
    if not isinstance(content, str) or not content.strip():
        raise BackendError(grpc.StatusCode.INTERNAL, "openai backend sent no text completion")
    return content
