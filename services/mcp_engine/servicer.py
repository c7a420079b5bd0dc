"""The McpEngine gRPC servicer: validates turns, layers stored context, asks the backend.

``StreamResponse`` streams a ``StreamingBackend``'s text pieces as they come; any other
backend's whole reply is cut into word deltas. Either way the last chunk carries the whole reply.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Iterator
from concurrent.futures import Future
from typing import NoReturn

import grpc

from protos import mcp_engine_pb2, mcp_engine_pb2_grpc
from services.mcp_engine.backend import Backend, BackendError, Pieces, StreamingBackend
from services.mcp_engine.context_store import ContextStore
from services.mcp_engine.turn_calls import Reply, TurnCalls, settled, turn_key

log = logging.getLogger(__name__)


def text_deltas(text: str) -> list[str]:
    """The text cut after each word's trailing whitespace; the pieces join back to ``text``."""
    return re.findall(r"\s*\S+\s*|\s+", text)


def reply_chunks(reply: mcp_engine_pb2.GenerateResponse) -> Iterator[mcp_engine_pb2.ResponseChunk]:
    """Text parts as word deltas, other parts whole, then a final chunk with the whole reply."""
    for part in reply.parts:
        if part.WhichOneof("kind") == "text":
            for delta in text_deltas(part.text):
                yield mcp_engine_pb2.ResponseChunk(text_delta=delta)
        else:
            yield mcp_engine_pb2.ResponseChunk(part=part)
    yield mcp_engine_pb2.ResponseChunk(
        final=True, context_update=reply.context_update, response=reply
    )


def _require_conversation(
    tenant_id: str, conversation_id: str, context: grpc.ServicerContext
) -> None:
    if not tenant_id or not conversation_id:
        context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, "tenant_id and conversation_id are required"
        )


class McpEngineServicer(mcp_engine_pb2_grpc.McpEngineServicer):
    """Serves the three engine RPCs from one backend and one context store; a turn asked for
    again while its first call runs gets that call's reply (``turn_calls``)."""

    def __init__(
        self, backend: Backend, contexts: ContextStore, calls: TurnCalls | None = None
    ) -> None:
        self._backend = backend
        self._contexts = contexts
        self._calls = calls or TurnCalls()

    def GenerateResponse(
        self, request: mcp_engine_pb2.GenerateRequest, context: grpc.ServicerContext
    ) -> mcp_engine_pb2.GenerateResponse:
        turn = self._turn(request, context)
        try:
            reply = self._calls.answer(
                turn_key(request),
                lambda: self._backend.generate(turn),
                context.time_remaining(),
            )
        except BackendError as exc:
            _refuse(request, exc, context)
        _answered(request, reply)
        return reply

    def StreamResponse(
        self, request: mcp_engine_pb2.GenerateRequest, context: grpc.ServicerContext
    ) -> Iterator[mcp_engine_pb2.ResponseChunk]:
        turn = self._turn(request, context)
        held = self._calls.claim(turn_key(request))
        try:
            if isinstance(held, Future):  # a duplicate: the first call's answer, in words
                reply = settled(held, context.time_remaining())
                _answered(request, reply)
                yield from reply_chunks(reply)
                return
            backend = self._backend
            pieces = backend.stream(turn) if isinstance(backend, StreamingBackend) else None
            if pieces is None:
                reply = self._backend.generate(turn)
                held.answered(reply)
                _answered(request, reply)
                yield from reply_chunks(reply)
                return
            reply = yield from _deltas(pieces)
        except BackendError as exc:
            if not isinstance(held, Future):
                held.failed(exc)
            _refuse(request, exc, context)
        except BaseException:  # the caller went away (GeneratorExit) or the call broke
            if not isinstance(held, Future):
                held.failed(BackendError(grpc.StatusCode.ABORTED, "the turn's stream ended"))
            raise
        held.answered(reply)
        _answered(request, reply)
        yield mcp_engine_pb2.ResponseChunk(
            final=True, context_update=reply.context_update, response=reply
        )

    def UpdateContext(
        self, request: mcp_engine_pb2.UpdateContextRequest, context: grpc.ServicerContext
    ) -> mcp_engine_pb2.UpdateContextResponse:
        _require_conversation(request.tenant_id, request.conversation_id, context)
        merged = self._contexts.merge(request.tenant_id, request.conversation_id, request.update)
        response = mcp_engine_pb2.UpdateContextResponse()
        response.context.update(merged)
        return response

    def _turn(
        self, request: mcp_engine_pb2.GenerateRequest, context: grpc.ServicerContext
    ) -> mcp_engine_pb2.GenerateRequest:
        """The request as the backend gets it: what UpdateContext stored wins over the session
        context the caller sent."""
        _require_conversation(request.tenant_id, request.conversation_id, context)
        turn = mcp_engine_pb2.GenerateRequest()
        turn.CopyFrom(request)
        turn.session_context.update(self._contexts.get(request.tenant_id, request.conversation_id))
        return turn


def _deltas(pieces: Pieces) -> Generator[mcp_engine_pb2.ResponseChunk, None, Reply]:
    """Each piece as a text delta chunk; returns the whole reply the pieces ended with."""
    try:
        while True:
            try:
                piece = next(pieces)
            except StopIteration as end:
                reply: Reply = end.value
                return reply
            yield mcp_engine_pb2.ResponseChunk(text_delta=piece)
    finally:
        pieces.close()  # a caller that went away ends the upstream request too


def _refuse(
    request: mcp_engine_pb2.GenerateRequest, exc: BackendError, context: grpc.ServicerContext
) -> NoReturn:
    log.warning("turn %s of tenant %s not answered: %s", request.request_id, request.tenant_id, exc)
    context.abort(exc.code, exc.detail)


def _answered(request: mcp_engine_pb2.GenerateRequest, reply: Reply) -> None:
    # Ids only: message text is the end user's and stays out of the logs.
    log.info(
        "turn %s of tenant %s answered by %s as %r",
        request.request_id, request.tenant_id, reply.backend, reply.intent,
    )  # fmt: skip
