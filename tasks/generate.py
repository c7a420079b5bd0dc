"""The ``generate`` stage: ask the MCP engine for the reply and store it as an outbound message."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from channels.content import degrade_to_text
from channels.registry import STREAMING_CHANNELS
from core.errors import PermanentError, TransientError
from core.stages import GENERATE
from core.states import Status
from core.timeutil import utcnow
from protos import mcp_engine_pb2 as pb
from protos.engine_turn import build_request, context_changes, engine_settings, reply_parts
from storage.documents import ConversationDocument, EngineAnswer, MessageDocument, RecentEntry
from storage.messages import reply_id
from tasks.app import app
from tasks.base import StageTask
from tasks.calls import engine_call
from tasks.failures import dead_letter, schedule_retry, wait
from tasks.ordering import pass_stage, ready
from tasks.policy import engine_policy, infrastructure_retry
from tasks.runtime import WorkerClients, clients
from tasks.streaming import streamed_answer
from tasks.typing import show_typing

log = logging.getLogger("parley.tasks.generate")


def _store_reply(
    c: WorkerClients,
    message: MessageDocument,
    parts: list[dict[str, Any]],
    engine: EngineAnswer,
    conversation: ConversationDocument | None = None,
) -> None:
    rid = reply_id(message["_id"])
    now = utcnow()
    c.messages.insert_reply(
        {
            "_id": rid,
            "tenant_id": message["tenant_id"],
            "conversation_id": message["conversation_id"],
            "channel": message["channel"],
            "direction": "outbound",
            "user_id": message["user_id"],
            "in_reply_to": message["_id"],
            "channel_config_id": message.get("channel_config_id"),
            "dedupe_key": f"reply:{rid}",
            "text": degrade_to_text(parts),
            "parts": parts,
            "engine": engine,
            "status": Status.GENERATED.value,
            "journey": {Status.GENERATED.value: now},
            "created_at": now,
            "updated_at": now,
        }
    )
    c.conversations.remember_turn(
        message["tenant_id"],
        message["conversation_id"],
        [
            _recent(message),
            {
                **_recent(message),
                "_id": rid,
                "direction": "outbound",
                "text": degrade_to_text(parts),
                "created_at": now,
            },
        ],
        c.settings.history_window,
        current=conversation,
    )


def _recent(message: MessageDocument) -> RecentEntry:
    """What the engine's history keeps of a message."""
    return {
        "_id": message["_id"],
        "direction": message["direction"],
        "text": message["text"],
        "created_at": message["created_at"],
    }


def _answer_refusal(c: WorkerClients, message: MessageDocument) -> bool:
    """A turn the pipeline refused (validation, the tenant's safety policy, bad media) is
    answered with the refusal's reply, never by the engine; False for any other turn."""
    refused = message.get("processing", {}).get("refused")
    if refused is None:
        return False
    parts = [{"type": "text", "text": refused["reply"]}]
    _store_reply(c, message, parts, {"intent": "refused", "backend": "policy"})
    return True


def _ask_engine(task: Task, c: WorkerClients, message: MessageDocument) -> bool:  # type: ignore[type-arg]
    """One engine call for the turn, stored as the reply; on a final failure, the fallback.
    False when the next attempt is left to the reconciler (no reply yet)."""
    if _answer_refusal(c, message):
        return True
    tenant_id, conversation_id = message["tenant_id"], message["conversation_id"]
    conversation = c.conversations.get(tenant_id, conversation_id)
    history = [m for m in conversation.get("recent", []) if m["_id"] < message["_id"]]
    session = c.sessions.load(tenant_id, conversation_id) or {}
    # The tenant's engine settings apply to every turn (cached for PARLEY_TENANT_CACHE_SECONDS).
    settings = engine_settings(c.engine_settings.get(tenant_id))
    request = build_request(message, history, session.get("context", {}), settings)
    try:
        response = _answer(c, message, request)
    except TransientError as exc:
        policy = engine_policy(c.settings.engine_retry_max)
        verdict, attempts = schedule_retry(task, c, message, GENERATE.name, policy, exc)
        if verdict is None:
            return False  # due later than a countdown may wait: the reconciler asks again
        _fall_back(c, message, exc, attempts)
        return True
    except PermanentError as exc:
        _fall_back(c, message, exc, 1)
        return True
    engine: EngineAnswer = {"intent": response.intent, "backend": response.backend}
    _store_reply(c, message, reply_parts(response), engine, conversation)
    c.sessions.apply_context(tenant_id, conversation_id, *context_changes(response))
    return True


def _answer(
    c: WorkerClients, message: MessageDocument, request: pb.GenerateRequest
) -> pb.GenerateResponse:
    """The engine's reply: streamed where the channel shows partial text, else whole while the
    channel shows the user a typing indicator (where it has one)."""
    streaming = message["channel"] in STREAMING_CHANNELS
    if not streaming:
        show_typing(c, message)
    with engine_call(c.telemetry, message["tenant_id"], message["_id"]):
        if streaming:
            return streamed_answer(c, message, request)
        return c.engine.generate(request, timeout=c.settings.engine_timeout_seconds)


def _fall_back(c: WorkerClients, message: MessageDocument, error: Exception, attempts: int) -> None:
    """The user still gets an answer; operators get a dead letter saying why."""
    dead_letter(c, message, GENERATE.name, error, "engine_unavailable", attempts, status=None)
    parts = [{"type": "text", "text": c.settings.engine_fallback_text}]
    _store_reply(c, message, parts, {"intent": "", "backend": "fallback"})


@app.task(
    name=GENERATE.task, base=StageTask, stage=GENERATE.name, bind=True, **infrastructure_retry()
)
def generate(self: Task, tenant_id: str, message_id: str) -> str:  # type: ignore[type-arg]
    c = clients()
    message = c.messages.find(tenant_id, message_id)
    # Turns of one conversation are answered in order, each seeing the replies before it.
    if message is None or not ready(self, c, message, GENERATE.name):
        return message_id  # gone, not processed yet, parked, or generated already
    rid = reply_id(message_id)
    # One engine call per turn: the lease keeps a redelivered copy of this task out, and the
    # reply is looked for under it (a turn whose reply exists is rare: a copy that stopped
    # between storing the reply and moving the message on), so the usual turn reads it once.
    lease_name = f"engine:{tenant_id}:{message_id}"
    lease = c.leases.acquire(lease_name, c.settings.engine_timeout_seconds + 10)
    if lease is None:
        wait(self, f"another worker is generating {message_id}", 1.0)
    try:
        if c.messages.find(tenant_id, rid) is None and not _ask_engine(self, c, message):
            return message_id
    finally:
        c.leases.release(lease_name, lease)
    c.messages.advance(tenant_id, message_id, Status.GENERATED, {"reply_id": rid}, current=message)
    pass_stage(c, tenant_id, message["conversation_id"], message_id, GENERATE.name)
    return message_id
