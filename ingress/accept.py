"""Accepting an API message: resolve the conversation, persist once, enqueue the chain.

Runs in a worker thread (pymongo and the Celery publish block). If the enqueue fails after the
message was stored, the message is removed again and the caller gets a 503, so a retry with the
same ``Idempotency-Key`` starts afresh instead of finding a message that nothing will process.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from core.errors import Conflict, TransientError
from core.ids import new_id
from core.states import Status
from core.timeutil import as_utc, utcnow
from ingress.auth import Principal
from ingress.schemas import Accepted, MessageIn
from ingress.state import IngressState
from tasks.chain import turn_chain

log = logging.getLogger("parley.ingress")

CHANNEL = "api"


class IdempotencyKeyReused(Conflict):
    """The ``Idempotency-Key`` was already used with a different request body."""


def body_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def accept_message(
    state: IngressState,
    principal: Principal,
    payload: MessageIn,
    idempotency_key: str | None,
    digest: str,
) -> tuple[Accepted, bool]:
    """Store and enqueue one message; returns the answer and whether it is new."""
    tenant = principal.tenant_id
    message_id = new_id("msg")
    if payload.conversation_id is not None:
        conversation = state.conversations.open_for_user(
            tenant, payload.conversation_id, CHANNEL, payload.user_id
        )
    else:
        conversation = state.conversations.resolve_open(
            tenant, CHANNEL, payload.user_id, started_by=message_id
        )
    now = utcnow()
    doc: dict[str, Any] = {
        "_id": message_id,
        "tenant_id": tenant,
        "conversation_id": conversation["_id"],
        "channel": CHANNEL,
        "direction": "inbound",
        "user_id": payload.user_id,
        "text": payload.text,
        "metadata": payload.metadata or {},
        "submitted_by": principal.subject,
        "dedupe_key": f"idem:{idempotency_key}" if idempotency_key else f"msg:{message_id}",
        "request_digest": digest,
        "status": Status.ACCEPTED.value,
        "journey": {Status.ACCEPTED.value: now},
        "created_at": now,
        "updated_at": now,
    }
    if idempotency_key:
        doc["idempotency_key"] = idempotency_key
    stored, created = state.messages.insert_once(doc)
    if not created and _expired(state, stored):
        state.messages.release_dedupe_key(tenant, stored["_id"], str(idempotency_key))
        stored, created = state.messages.insert_once(doc)
    if not created:
        if stored.get("request_digest") != digest:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with a different request body"
            )
        return _answer(stored), False
    try:
        turn_chain(tenant, message_id).apply_async()
    except Exception as exc:
        log.error("enqueue failed for message %s: %s", message_id, type(exc).__name__)
        state.messages.delete_unqueued(tenant, message_id)
        raise TransientError("the message could not be queued; retry later") from exc
    return _answer(stored), True


def _expired(state: IngressState, stored: dict[str, Any]) -> bool:
    window = timedelta(seconds=state.settings.idempotency_ttl_seconds)
    return "idempotency_key" in stored and as_utc(stored["created_at"]) < utcnow() - window


def _answer(stored: dict[str, Any]) -> Accepted:
    return Accepted(
        message_id=stored["_id"],
        conversation_id=stored["conversation_id"],
        status=Status.ACCEPTED.value,
    )
