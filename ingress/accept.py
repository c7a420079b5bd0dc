"""Accepting inbound messages: resolve the conversation, persist once, enqueue the chain.

Runs in a worker thread (pymongo and the Celery publish block). If the enqueue fails after the
message was stored, the message is removed again and the caller gets a 503 (a provider retries
a 5xx), so a retry starts afresh instead of finding a message that nothing will process.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from core.bursts import burst_policy
from core.chat_events import message_received
from core.envelopes import ChannelConfig, InboundMessage
from core.errors import Conflict, TransientError
from core.ids import new_id
from core.states import Status
from core.timeutil import as_utc, utcnow
from core.visitor_tokens import Visitor
from ingress.auth import Principal
from ingress.schemas import Accepted, MessageIn, WebMessageIn
from ingress.state import IngressState
from storage.documents import MessageDocument
from storage.outbox import with_outbox
from tasks.chain import turn_chain

log = logging.getLogger("parley.ingress")

API_CHANNEL = "api"
WEB_CHANNEL = "web"


class IdempotencyKeyReused(Conflict):
    """The ``Idempotency-Key`` was already used with a different request body."""


def body_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _inbound_document(
    message_id: str,
    tenant_id: str,
    conversation_id: str,
    channel: str,
    user_id: str,
    text: str,
    dedupe_key: str,
) -> MessageDocument:
    now = utcnow()
    return {
        "_id": message_id,
        "tenant_id": tenant_id,
        "conversation_id": conversation_id,
        "channel": channel,
        "direction": "inbound",
        "user_id": user_id,
        "text": text,
        "status": Status.ACCEPTED.value,
        "journey": {Status.ACCEPTED.value: now},
        "created_at": now,
        "updated_at": now,
        "dedupe_key": dedupe_key,
    }


def _store_and_enqueue(state: IngressState, doc: MessageDocument) -> tuple[MessageDocument, bool]:
    """Insert unless the dedupe key exists; only the inserting request enqueues the chain.
    The ``received`` event is born with the message (see storage/outbox.py).

    The turn takes its place in its conversation's order *before* the insert: an insert that
    timed out may still be applied by the server, and that stored turn (re-driven later by the
    reconciler, its provider's retry being a duplicate) must not be overtaken meanwhile. An
    entry whose message was never stored is dropped by the first check that meets it."""
    tenant_id, conversation_id, message_id = doc["tenant_id"], doc["conversation_id"], doc["_id"]
    state.order.open(tenant_id, conversation_id, message_id)
    stored, created = state.messages.insert_once(with_outbox(doc, [message_received(doc)]))
    if not created:
        state.order.forget(tenant_id, conversation_id, message_id)  # the first copy has one
        return stored, False
    # The reply waits for the burst window: more messages sent meanwhile are answered with it.
    window = burst_policy(state.settings, state.tenants.status(tenant_id).bursts).window_seconds
    try:
        turn_chain(tenant_id, message_id, generate_after=window).apply_async()
    except Exception as exc:
        log.error("enqueue failed for message %s: %s", message_id, type(exc).__name__)
        state.messages.delete_unqueued(tenant_id, message_id)
        raise TransientError("the message could not be queued; retry later") from exc
    return stored, True


def accept_message(
    state: IngressState,
    principal: Principal,
    payload: MessageIn,
    idempotency_key: str | None,
    digest: str,
) -> tuple[Accepted, bool]:
    """Store and enqueue one API message; returns the answer and whether it is new."""
    tenant = principal.tenant_id
    message_id = new_id("msg")
    if payload.conversation_id is not None:
        conversation_id = state.conversations.open_for_user(
            tenant, payload.conversation_id, API_CHANNEL, payload.user_id
        )["_id"]
    else:
        conversation_id = state.conversations.resolve_open(
            tenant, API_CHANNEL, payload.user_id, started_by=message_id
        )
    doc = _inbound_document(
        message_id,
        tenant,
        conversation_id,
        API_CHANNEL,
        payload.user_id,
        payload.text,
        f"idem:{idempotency_key}" if idempotency_key else f"msg:{message_id}",
    )
    doc["metadata"] = payload.metadata or {}
    doc["submitted_by"] = principal.subject
    doc["request_digest"] = digest
    if idempotency_key:
        doc["idempotency_key"] = idempotency_key
    stored, created = _claim(state, doc, idempotency_key)
    if not created and stored.get("request_digest") != digest:
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different request body")
    return _answer(stored), created


def _claim(
    state: IngressState, doc: MessageDocument, idempotency_key: str | None
) -> tuple[MessageDocument, bool]:
    stored, created = _store_and_enqueue(state, doc)
    if not created and idempotency_key and _expired(state, stored):
        state.messages.release_dedupe_key(doc["tenant_id"], stored["_id"], idempotency_key)
        stored, created = _store_and_enqueue(state, doc)
    return stored, created


def accept_inbound(state: IngressState, config: ChannelConfig, message: InboundMessage) -> bool:
    """Store and enqueue one provider message, once however often the provider delivers it."""
    message_id = new_id("msg")
    # One conversation per user per provider account: the same person on two of a tenant's
    # WhatsApp numbers holds two conversations.
    conversation_id = state.conversations.resolve_open(
        config.tenant_id,
        config.channel,
        message.user_id,
        started_by=message_id,
        scope=config.id,
    )
    doc = _inbound_document(
        message_id,
        config.tenant_id,
        conversation_id,
        config.channel,
        message.user_id,
        message.text,
        # Some providers' ids are unique only within a conversation (Teams activity ids).
        ":".join(
            (
                config.channel,
                config.account_id,
                str(message.reply_to.get("conversation_id", "")),
                message.provider_message_id,
            )
        ),
    )
    doc.update(
        {
            "provider_message_id": message.provider_message_id,
            "channel_config_id": config.id,
            "kind": message.kind,
            "content": dict(message.content),
            "reply_to": dict(message.reply_to),
            "user_name": message.user_name,
            "metadata": {},
        }
    )
    if message.clicked is not None:
        doc["clicked"] = dict(message.clicked)
    _, created = _store_and_enqueue(state, doc)
    return created


def accept_web(
    state: IngressState,
    visitor: Visitor,
    message: WebMessageIn,
    client: dict[str, Any] | None = None,
) -> tuple[MessageDocument, bool]:
    """Store and enqueue one web visitor's message, once however often the browser sends it;
    returns the stored message and whether this call stored it. ``NotFound`` for an upload
    that is not this visitor's. ``client``: the socket's user agent and address
    (``ingress.client_address.client_metadata``), kept in ``metadata``."""
    attachments = _uploads(state, visitor, [each.upload_id for each in message.attachments])
    tenant, widget, user = visitor.tenant_id, visitor.widget_id, visitor.visitor_id
    message_id = new_id("msg")
    # One conversation per visitor per widget: a signed-in user on two sites holds two.
    conversation_id = state.conversations.resolve_open(
        tenant, WEB_CHANNEL, user, started_by=message_id, scope=widget
    )
    doc = _inbound_document(
        message_id,
        tenant,
        conversation_id,
        WEB_CHANNEL,
        user,
        message.text,
        f"web:{widget}:{user}:{message.client_message_id}",
    )
    content: dict[str, Any] = {"attachments": attachments} if attachments else {}
    kind = "text"
    if message.payload is not None:  # a quick reply's button: its payload, its title as text
        content.update({"payload": message.payload, "title": message.text})
        kind = "interactive"
    elif attachments and not message.text.strip():
        images = all(str(each["content_type"]).startswith("image/") for each in attachments)
        kind = "image" if images else "file"
    doc.update(
        {
            "client_message_id": message.client_message_id,
            "kind": kind,
            "content": content,
            "reply_to": {"widget_id": widget},
            "metadata": dict(client or {}),
        }
    )
    return _store_and_enqueue(state, doc)


def _uploads(state: IngressState, visitor: Visitor, upload_ids: list[str]) -> list[dict[str, Any]]:
    """The named uploads as a message keeps them, in the order given; each must be this
    visitor's on this widget."""
    return state.uploads.attachments(
        visitor.tenant_id, visitor.widget_id, visitor.visitor_id, upload_ids
    )


def _expired(state: IngressState, stored: MessageDocument) -> bool:
    window = timedelta(seconds=state.settings.idempotency_ttl_seconds)
    return "idempotency_key" in stored and as_utc(stored["created_at"]) < utcnow() - window


def _answer(stored: MessageDocument) -> Accepted:
    return Accepted(
        message_id=stored["_id"],
        conversation_id=stored["conversation_id"],
        status=Status.ACCEPTED.value,
    )
