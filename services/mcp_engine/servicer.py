"""The McpEngine gRPC servicer: validates turns, layers stored context, asks the backend."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import grpc

from protos import mcp_engine_pb2, mcp_engine_pb2_grpc
from services.mcp_engine.backend import Backend, BackendError
from services.mcp_engine.context_store import ContextStore
from services.mcp_engine.turn_calls import TurnCalls, turn_key

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
        return self._reply(request, context)

    def StreamResponse(
        self, request: mcp_engine_pb2.GenerateRequest, context: grpc.ServicerContext
    ) -> Iterator[mcp_engine_pb2.ResponseChunk]:
        yield from reply_chunks(self._reply(request, context))

    def UpdateContext(
        self, request: mcp_engine_pb2.UpdateContextRequest, context: grpc.ServicerContext
    ) -> mcp_engine_pb2.UpdateContextResponse:
        _require_conversation(request.tenant_id, request.conversation_id, context)
        merged = self._contexts.merge(request.tenant_id, request.conversation_id, request.update)
        response = mcp_engine_pb2.UpdateContextResponse()
        response.context.update(merged)
        return response

    def _reply(
        self, request: mcp_engine_pb2.GenerateRequest, context: grpc.ServicerContext
    ) -> mcp_engine_pb2.GenerateResponse:
        _require_conversation(request.tenant_id, request.conversation_id, context)
        turn = mcp_engine_pb2.GenerateRequest()
        turn.CopyFrom(request)
        # What UpdateContext stored wins over the session context the caller sent.
        turn.session_context.update(self._contexts.get(request.tenant_id, request.conversation_id))
        try:
            reply = self._calls.answer(
                turn_key(request),
                lambda: self._backend.generate(turn),
                context.time_remaining(),
            )
        except BackendError as exc:
            log.warning(
                "turn %s of tenant %s not answered: %s", request.request_id, request.tenant_id, exc
            )
            context.abort(exc.code, exc.detail)
        # Ids only: message text is the end user's and stays out of the logs.
        log.info(
            "turn %s of tenant %s answered by %s as %r",
            request.request_id, request.tenant_id, reply.backend, reply.intent,
        )  # fmt: skip
        return reply
