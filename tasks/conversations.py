"""Closing conversations, by a caller (``POST /v1/conversations/{id}/close``) or by the idle
beat job (``tasks/maintenance.py``): the one place a close happens."""

from __future__ import annotations

import logging
from datetime import timedelta

from redis.exceptions import RedisError

from core.timeutil import utcnow
from core.visitor_events import conversation_ended_event
from storage.conversations import CLOSED, CLOSED_IDLE
from storage.documents import ConversationDocument
from storage.wiring import Storage

IDLE_SETTING = "conversation_idle_minutes"
WEB_CHANNEL = "web"

log = logging.getLogger("parley.tasks.conversations")


def close_conversation(
    storage: Storage, tenant_id: str, conversation_id: str, reason: str
) -> tuple[ConversationDocument, bool]:
    """Close the conversation (``NotFound`` if it is not the tenant's) and end its session;
    returns it and whether this call closed it. Closing a closed one changes nothing."""
    doc, closed = storage.conversations.close(tenant_id, conversation_id, reason)
    if doc["state"] == CLOSED:
        # Also after a closer that died before this step: the session goes with the close.
        storage.sessions.clear(tenant_id, conversation_id)
    if closed and doc["channel"] == WEB_CHANNEL:
        _tell_visitor(storage, doc, reason)
    return doc, closed


def _tell_visitor(storage: Storage, doc: ConversationDocument, reason: str) -> None:
    """A web conversation's end reaches the visitor's open pages; its scope is its widget."""
    widget_id = doc.get("channel_config_id")
    if not widget_id:
        return
    event = conversation_ended_event(doc["_id"], reason)
    try:
        storage.visitor_streams.publish(doc["tenant_id"], widget_id, doc["user_id"], event)
    except RedisError as exc:  # the close stands; the widget learns it on its next message
        log.warning("conversation_ended for %s not published: %s", doc["_id"], type(exc).__name__)


def close_idle(storage: Storage, limit: int) -> list[ConversationDocument]:
    """Close up to ``limit`` open conversations silent for longer than their tenant's
    ``conversation_idle_minutes`` (else ``PARLEY_CONVERSATION_IDLE_MINUTES``); returns those
    this pass closed. Tenants with their own timeout are scanned one by one, the rest at once,
    so a tenant's longer timeout never holds up the others' scan."""
    now = utcnow()
    own = storage.tenant_records.overrides(IDLE_SETTING)
    default_cutoff = now - timedelta(minutes=storage.settings.conversation_idle_minutes)
    found = storage.conversations.idle(default_cutoff, limit, other_than=sorted(own))
    for tenant_id, minutes in sorted(own.items()):
        if len(found) >= limit:
            break
        cutoff = now - timedelta(minutes=int(minutes))
        found += storage.conversations.idle(cutoff, limit - len(found), tenant_id=tenant_id)
    closed = []
    for doc in found:
        after, changed = close_conversation(storage, doc["tenant_id"], doc["_id"], CLOSED_IDLE)
        if changed:
            closed.append(after)
    return closed
