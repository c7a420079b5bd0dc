"""The ``generate`` stage: ask the MCP engine for the reply and store it as an outbound message."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Struct

from channels.content import degrade_to_text
from core.errors import PermanentError, TransientError
from core.stages import GENERATE
from core.states import Status
from core.timeutil import utcnow
from protos import mcp_engine_pb2 as pb
from storage.messages import Message, reply_id
from tasks.app import app
from tasks.base import StageTask
from tasks.failures import dead_letter, schedule_retry, wait
from tasks.ordering import pass_stage, ready
from tasks.policy import engine_policy, infrastructure_retry
from tasks.runtime import WorkerClients, clients

log = logging.getLogger("parley.tasks.generate")


def _history_entry(message: Message) -> pb.HistoryEntry:
    inbound = message["direction"] == "inbound"
    return pb.HistoryEntry(
        message_id=message["_id"],
        direction=pb.DIRECTION_INBOUND if inbound else pb.DIRECTION_OUTBOUND,
        text=message.get("text", ""),
        created_at_ms=int(message["created_at"].timestamp() * 1000),
    )


def engine_settings(stored: dict[str, Any]) -> pb.EngineSettings | None:
    """A tenant's stored ``engine`` settings as the engine request carries them; None when there
    are none (the engine's defaults apply). Values of the wrong type are left out rather than
    failing the turn (the admin API validates them; this guards documents written otherwise)."""
    settings = pb.EngineSettings()
    for name in ("backend", "model", "system_prompt"):
        value = stored.get(name)
        if isinstance(value, str):
            setattr(settings, name, value)
    temperature = stored.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        settings.temperature = float(temperature)
    return settings if settings.ListFields() else None


def build_request(
    message: Message,
    history: list[Message],
    context: dict[str, Any],
    engine: pb.EngineSettings | None = None,
) -> pb.GenerateRequest:
    """The engine request for a turn; ``engine`` is the tenant's settings, if it has any."""
    processing = message.get("processing", {})
    session_context = Struct()
    session_context.update(context)
    return pb.GenerateRequest(
        request_id=message["_id"],
        tenant_id=message["tenant_id"],
        conversation_id=message["conversation_id"],
        channel=message["channel"],
        user_id=message["user_id"],
        message_id=message["_id"],
        text=message["text"],
        history=[_history_entry(m) for m in history],
        session_context=session_context,
        processing=pb.ProcessingResult(
            normalized_text=processing.get("normalized_text", message["text"]),
            message_type=processing.get("message_type", "text"),
        ),
        engine=engine,
    )


def reply_parts(response: pb.GenerateResponse) -> list[dict[str, Any]]:
    """The engine's reply parts as plain documents, each tagged with its ``type``."""
    parts: list[dict[str, Any]] = []
    for part in response.parts:
        kind = part.WhichOneof("kind")
        if kind is None:
            continue
        if kind == "text":
            parts.append({"type": "text", "text": part.text})
        else:
            body = MessageToDict(getattr(part, kind), preserving_proto_field_name=True)
            parts.append({"type": kind, **body})
    return parts


def _store_reply(
    c: WorkerClients,
    message: Message,
    parts: list[dict[str, Any]],
    engine: dict[str, Any],
    conversation: dict[str, Any] | None = None,
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


def _recent(message: Message) -> dict[str, Any]:
    """What the engine's history keeps of a message."""
    return {k: message[k] for k in ("_id", "direction", "text", "created_at")}


def _ask_engine(task: Task, c: WorkerClients, message: Message) -> bool:  # type: ignore[type-arg]
    """One engine call for the turn, stored as the reply; on a final failure, the fallback.
    False when the next attempt is left to the reconciler (no reply yet)."""
    tenant_id, conversation_id = message["tenant_id"], message["conversation_id"]
    conversation = c.conversations.get(tenant_id, conversation_id)
    history = [m for m in conversation.get("recent", []) if m["_id"] < message["_id"]]
    session = c.sessions.load(tenant_id, conversation_id) or {}
    # The tenant's engine settings apply to every turn (cached for PARLEY_TENANT_CACHE_SECONDS).
    settings = engine_settings(c.engine_settings.get(tenant_id))
    request = build_request(message, history, session.get("context", {}), settings)
    try:
        response = c.engine.generate(request, timeout=c.settings.engine_timeout_seconds)
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
    engine = {"intent": response.intent, "backend": response.backend}
    _store_reply(c, message, reply_parts(response), engine, conversation)
    update = response.context_update
    c.sessions.apply_context(
        tenant_id,
        conversation_id,
        MessageToDict(update.set) if update.HasField("set") else {},
        list(update.unset),
    )
    return True


def _fall_back(c: WorkerClients, message: Message, error: Exception, attempts: int) -> None:
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
    if c.messages.find(tenant_id, rid) is None:
        # One engine call per turn: the lease keeps a redelivered copy of this task out.
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
