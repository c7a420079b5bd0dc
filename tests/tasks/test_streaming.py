"""Web replies streamed to the visitor's Redis Stream by the generate stage, against a real gRPC
engine whose streams can be broken midway, and read back from the real Redis."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis
from pymongo.database import Database
from testenv import ENGINE_PORT

from core.errors import TransientError
from core.ids import new_id
from core.settings import Settings
from core.timeutil import utcnow
from protos import mcp_engine_pb2 as pb
from protos import mcp_engine_pb2_grpc
from protos.grpc_server import GrpcServer
from services.mcp_engine.context_store import ContextStore
from services.mcp_engine.rules import DEFAULT_RULES_FILE, RulesBackend
from services.mcp_engine.servicer import McpEngineServicer
from storage.conversations import ConversationRepository
from storage.messages import MessageRepository, reply_id
from storage.visitor_streams import decode_entry, stream_key
from tasks.generate import generate
from tasks.process import process

HOURS = "We are open Monday to Friday, 9:00 to 18:00."
WIDGET = "wgt_stream_test"
NO_FINAL = "no final chunk"
NO_RESPONSE = "a final chunk without response"
Break = grpc.StatusCode | str  # how a scripted stream ends after two deltas


class BreakingEngine(McpEngineServicer):
    """The real servicer on the rules backend; each scripted break spoils one stream after its
    second delta: aborted with a status, ended early, or finished without the response."""

    def __init__(self) -> None:
        self.rules = RulesBackend.from_file(Path(DEFAULT_RULES_FILE))
        super().__init__(self, ContextStore())
        self.breaks: deque[Break] = deque()
        self.backend_calls: list[str] = []
        self.streams: list[str] = []
        self._lock = threading.Lock()

    def generate(self, request: pb.GenerateRequest) -> pb.GenerateResponse:
        with self._lock:
            self.backend_calls.append(request.request_id)
        return self.rules.generate(request)

    def close(self) -> None:
        self.rules.close()

    def StreamResponse(
        self, request: pb.GenerateRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ResponseChunk]:
        with self._lock:
            self.streams.append(request.request_id)
            how = self.breaks.popleft() if self.breaks else None
        for n, chunk in enumerate(super().StreamResponse(request, context)):
            if how is not None and n == 2:
                if how == NO_RESPONSE:
                    yield pb.ResponseChunk(final=True)
                elif isinstance(how, grpc.StatusCode):
                    context.abort(how, "the stream broke")
                return
            yield chunk


@pytest.fixture
def engine() -> Iterator[BreakingEngine]:
    servicer = BreakingEngine()
    running = GrpcServer.start(
        "MCP engine",
        pb.DESCRIPTOR.services_by_name["McpEngine"],
        lambda server: mcp_engine_pb2_grpc.add_McpEngineServicer_to_server(servicer, server),
        ENGINE_PORT,
        "127.0.0.1",
    )
    yield servicer
    running.server.stop(1).wait()
    servicer.close()


def accept_web(db: Database[Any], tenant: str, text: str) -> tuple[str, str]:
    """A web visitor's message, stored as the socket's accept path stores it; (message, visitor)."""
    visitor, message_id = new_id("v"), new_id("msg")
    conversations = ConversationRepository(db)
    conversation_id = conversations.resolve_open(tenant, "web", visitor, message_id, WIDGET)
    now = utcnow()
    MessageRepository(db).insert_once(
        {
            "_id": message_id,
            "tenant_id": tenant,
            "conversation_id": conversation_id,
            "channel": "web",
            "direction": "inbound",
            "user_id": visitor,
            "reply_to": {"widget_id": WIDGET},
            "text": text,
            "metadata": {},
            "dedupe_key": f"web:{WIDGET}:{visitor}:{new_id('c')}",
            "status": "accepted",
            "journey": {"accepted": now},
            "created_at": now,
            "updated_at": now,
        }
    )
    process(tenant, message_id)
    return message_id, visitor


def events(redis_client: redis.Redis, tenant: str, visitor: str) -> list[dict[str, Any]]:
    entries = redis_client.xrange(stream_key(tenant, WIDGET, visitor))
    return [decode_entry(entry_id, fields) for entry_id, fields in entries]


def kinds(stream: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in stream]


def replies(db: Database[Any], message_id: str) -> list[dict[str, Any]]:
    return list(db["messages"].find({"in_reply_to": message_id}))


def test_a_web_reply_streams_its_deltas_in_order_and_is_stored_once(
    engine: BreakingEngine, db: Database[Any], redis_client: redis.Redis, tenant: str
) -> None:
    message_id, visitor = accept_web(db, tenant, "What are your opening hours?")
    generate(tenant, message_id)
    generate(tenant, message_id)  # a redelivered copy finds the reply and streams nothing
    stream = events(redis_client, tenant, visitor)
    deltas = [event for event in stream if event["type"] == "delta"]
    assert kinds(stream) == ["status", "typing"] + ["delta"] * len(deltas) + ["typing"]
    assert len(deltas) > 2
    assert "".join(event["text"] for event in deltas) == HOURS
    conversation_id = db["messages"].find_one({"_id": message_id})["conversation_id"]
    assert {(e["conversation_id"], e["reply_id"]) for e in deltas} == {
        (conversation_id, reply_id(message_id))
    }
    assert stream[0] | {"ts": None, "event_id": None} == {
        "type": "status", "message_id": message_id, "status": "read", "ts": None, "event_id": None
    }  # fmt: skip
    assert [e["state"] for e in stream if e["type"] == "typing"] == ["on", "off"]
    [reply] = replies(db, message_id)
    assert reply["_id"] == reply_id(message_id)
    assert reply["text"] == HOURS
    assert reply["parts"] == [{"type": "text", "text": HOURS}]
    assert reply["engine"]["intent"] == "opening_hours"
    assert engine.streams == [message_id]
    assert engine.backend_calls == [message_id]


@pytest.mark.parametrize("how", [grpc.StatusCode.UNAVAILABLE, NO_FINAL, NO_RESPONSE])
def test_a_stream_broken_midway_is_reset_and_the_retry_stores_one_complete_reply(
    how: Break, engine: BreakingEngine, db: Database[Any], redis_client: redis.Redis, tenant: str
) -> None:
    engine.breaks.append(how)
    message_id, visitor = accept_web(db, tenant, "What are your opening hours?")
    with pytest.raises(TransientError):
        generate(tenant, message_id)  # called directly, the stage's retry raises its error
    broken = events(redis_client, tenant, visitor)
    assert kinds(broken) == ["status", "typing", "delta", "delta", "stream_reset", "typing"]
    assert broken[4]["reply_id"] == reply_id(message_id)
    assert replies(db, message_id) == []  # no half reply stored
    generate(tenant, message_id)
    retried = events(redis_client, tenant, visitor)[len(broken) :]
    assert "stream_reset" not in kinds(retried)
    assert "".join(e["text"] for e in retried if e["type"] == "delta") == HOURS
    [reply] = replies(db, message_id)
    assert reply["text"] == HOURS
    assert engine.streams == [message_id, message_id]
    # The engine remembers the turn's answer: the second stream is not a second completion.
    assert engine.backend_calls == [message_id]


def test_a_stream_refused_midway_is_reset_and_answered_with_the_fallback_once(
    engine: BreakingEngine,
    db: Database[Any],
    redis_client: redis.Redis,
    settings: Settings,
    tenant: str,
) -> None:
    engine.breaks.append(grpc.StatusCode.INVALID_ARGUMENT)
    message_id, visitor = accept_web(db, tenant, "What are your opening hours?")
    generate(tenant, message_id)
    generate(tenant, message_id)
    stream = events(redis_client, tenant, visitor)
    assert kinds(stream) == ["status", "typing", "delta", "delta", "stream_reset", "typing"]
    [reply] = replies(db, message_id)
    assert reply["text"] == settings.engine_fallback_text
    assert reply["engine"]["backend"] == "fallback"
    assert engine.streams == [message_id]


def test_a_redis_error_publishing_the_stream_does_not_fail_the_turn(
    engine: BreakingEngine,
    db: Database[Any],
    redis_client: redis.Redis,
    tenant: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    message_id, visitor = accept_web(db, tenant, "What are your opening hours?")
    redis_client.set(stream_key(tenant, WIDGET, visitor), "not a stream")  # XADD: WRONGTYPE
    generate(tenant, message_id)
    [reply] = replies(db, message_id)
    assert reply["text"] == HOURS
    assert db["messages"].find_one({"_id": message_id})["status"] == "generated"
    assert "delta event for " + message_id + " not published: ResponseError" in caplog.text
