"""The ``generate`` stage: ask the MCP engine for the reply and store it as an outbound message."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from celery import Task

from channels.content import degrade_to_text
from channels.registry import STREAMING_CHANNELS
from core.bursts import BurstPolicy, burst_policy
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

# How long past its window a turn waits for a message of its burst still being processed.
BURST_PATIENCE_SECONDS = 5.0


def _store_reply(
    c: WorkerClients,
    message: MessageDocument,
    parts: list[dict[str, Any]],
    engine: EngineAnswer,
    conversation: ConversationDocument | None = None,
    together: Sequence[MessageDocument] = (),
) -> None:
    """The reply to ``message`` and the burst ``together`` with it, and the conversation's
    history with all of them."""
    rid = reply_id(message["_id"])
    answered = [message, *together]
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
            "answers": [each["_id"] for each in answered],
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
            *(_recent(each) for each in answered),
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
        activity=(rid, now),  # the conversation's last activity: the reply
        heard_at=answered[-1]["created_at"],
    )


def _recent(message: MessageDocument) -> RecentEntry:
    """What the engine's history keeps of a message."""
    return {
        "_id": message["_id"],
        "direction": message["direction"],
        "text": message["text"],
        "created_at": message["created_at"],
    }


def _together(
    task: Task,  # type: ignore[type-arg]
    c: WorkerClients,
    message: MessageDocument,
    later: Sequence[str],
    policy: BurstPolicy,
) -> list[MessageDocument]:
    """The later messages of the conversation answered with ``message`` (docs/bursts.md): in
    order, every one that is ready for its reply, up to the tenant's ``max_messages``. The run
    stops at the first that is not: another user's, one the pipeline refused (it gets its own
    refusal), or one still being processed, which the turn waits for when it arrived within
    the window (and the wait has not run past ``BURST_PATIENCE_SECONDS``). Later turns cannot
    go through this stage meanwhile: they wait behind this one (tasks/ordering.py)."""
    if not policy.enabled:
        return []
    tenant_id = message["tenant_id"]
    window_ends = message["created_at"] + timedelta(seconds=policy.window_seconds)
    together: list[MessageDocument] = []
    for later_id in later[: policy.max_messages - 1]:
        doc = c.messages.find(tenant_id, later_id)
        if doc is None:
            continue  # an entry whose message was never stored
        processing = doc["status"] == Status.ACCEPTED.value and doc["direction"] == "inbound"
        if processing and doc["created_at"] <= window_ends:
            patience = window_ends + timedelta(seconds=BURST_PATIENCE_SECONDS)
            if utcnow() < patience:
                wait(task, f"{later_id}, sent with {message['_id']}, is being processed", 0.25)
        if not _joins(doc, message):
            break
        together.append(doc)
    return together


def _joins(later: MessageDocument, message: MessageDocument) -> bool:
    """Whether ``later`` is answered with ``message``: the same user's, processed, not yet
    answered, and not refused by the pipeline."""
    return (
        later["direction"] == "inbound"
        and later["status"] == Status.PROCESSED.value
        and later["user_id"] == message["user_id"]
        and later["channel"] == message["channel"]
        and "reply_id" not in later
        and later.get("processing", {}).get("refused") is None
    )


def _answer_refusal(c: WorkerClients, message: MessageDocument) -> bool:
    """A turn the pipeline refused (validation, the tenant's safety policy, bad media) is
    answered with the refusal's reply, never by the engine; False for any other turn."""
    refused = message.get("processing", {}).get("refused")
    if refused is None:
        return False
    parts = [{"type": "text", "text": refused["reply"]}]
    _store_reply(c, message, parts, {"intent": "refused", "backend": "policy"})
    return True


def _ask_engine(
    task: Task,  # type: ignore[type-arg]
    c: WorkerClients,
    message: MessageDocument,
    later: Sequence[str],
    bursts: BurstPolicy,
) -> list[MessageDocument] | None:
    """One engine call for the turn (and the messages answered with it), stored as the reply;
    on a final failure, the fallback. Returns the later messages the reply answers too; None
    when the next attempt is left to the reconciler (no reply yet)."""
    if _answer_refusal(c, message):
        return []
    together = _together(task, c, message, later, bursts)
    tenant_id, conversation_id = message["tenant_id"], message["conversation_id"]
    conversation = c.conversations.get(tenant_id, conversation_id)
    history = [m for m in conversation.get("recent", []) if m["_id"] < message["_id"]]
    session = c.sessions.load(tenant_id, conversation_id) or {}
    # The tenant's engine settings apply to every turn (cached for PARLEY_TENANT_CACHE_SECONDS).
    settings = engine_settings(c.engine_settings.get(tenant_id))
    request = build_request(message, history, session.get("context", {}), settings, together)
    try:
        response = _answer(c, message, request)
    except TransientError as exc:
        policy = engine_policy(c.settings.engine_retry_max)
        verdict, attempts = schedule_retry(task, c, message, GENERATE.name, policy, exc)
        if verdict is None:
            return None  # due later than a countdown may wait: the reconciler asks again
        _fall_back(c, message, exc, attempts, together)
        return together
    except PermanentError as exc:
        _fall_back(c, message, exc, 1, together)
        return together
    engine: EngineAnswer = {"intent": response.intent, "backend": response.backend}
    _store_reply(c, message, reply_parts(response), engine, conversation, together)
    c.sessions.apply_context(tenant_id, conversation_id, *context_changes(response))
    return together


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


def _fall_back(
    c: WorkerClients,
    message: MessageDocument,
    error: Exception,
    attempts: int,
    together: Sequence[MessageDocument],
) -> None:
    """The user still gets an answer; operators get a dead letter saying why."""
    dead_letter(c, message, GENERATE.name, error, "engine_unavailable", attempts, status=None)
    parts = [{"type": "text", "text": c.settings.engine_fallback_text}]
    _store_reply(c, message, parts, {"intent": "", "backend": "fallback"}, together=together)


@app.task(
    name=GENERATE.task, base=StageTask, stage=GENERATE.name, bind=True, **infrastructure_retry()
)
def generate(self: Task, tenant_id: str, message_id: str) -> str:  # type: ignore[type-arg]
    c = clients()
    message = c.messages.find(tenant_id, message_id)
    # Turns of one conversation are answered in order, each seeing the replies before it.
    # The turns after it are named too (in the same look at the order): a burst's candidates.
    bursts = burst_policy(c.settings, c.tenants.status(tenant_id).bursts)
    lookahead = bursts.max_messages - 1
    clearance = None if message is None else ready(self, c, message, GENERATE.name, lookahead)
    if message is None or clearance is None:
        return message_id  # gone, not processed yet, parked, or generated already
    rid = reply_id(message_id)
    # One engine call per turn: the lease keeps a redelivered copy of this task out, and the
    # reply is looked for under it (a turn whose reply exists is rare: a copy that stopped
    # between storing the reply and moving the message on), so the usual turn reads it once.
    lease_name = f"engine:{tenant_id}:{message_id}"
    lease = c.leases.acquire(lease_name, c.settings.engine_timeout_seconds + 10)
    if lease is None:
        wait(self, f"another worker is generating {message_id}", 1.0)
    together: dict[str, MessageDocument | None]  # the burst's later messages, as read if read
    try:
        reply = c.messages.find(tenant_id, rid)
        if reply is None:
            asked = _ask_engine(self, c, message, clearance.later, bursts)
            if asked is None:
                return message_id
            together = {each["_id"]: each for each in asked}
        else:  # stored by a copy that stopped before moving the messages on
            answers = reply.get("answers", [])
            together = dict.fromkeys(each for each in answers if each != message_id)
    finally:
        c.leases.release(lease_name, lease)
    # The burst's later messages move first: they cannot go through this stage before this
    # turn has (they wait behind it), and once it has, they find themselves answered.
    for later_id, doc in together.items():
        c.messages.advance(tenant_id, later_id, Status.GENERATED, {"reply_id": rid}, current=doc)
    c.messages.advance(tenant_id, message_id, Status.GENERATED, {"reply_id": rid}, current=message)
    pass_stage(c, tenant_id, message["conversation_id"], message_id, GENERATE.name)
    return message_id
