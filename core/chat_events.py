"""The chat events Parley emits (``chat.message.*``, ``chat.conversation.*``), built as CloudEvents
from stored documents with deterministic ids, so the same fact always has the same id however
often a stage runs (consumers drop duplicates by ``id``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.cloudevents import CloudEvent

SOURCE = "/parley/pipeline"

Doc = Mapping[str, Any]  # a stored document (storage/documents.py), which core cannot import


def _event(
    event_id: str, kind: str, subject: str, doc: Doc, at: datetime, data: dict[str, Any]
) -> CloudEvent:
    return CloudEvent(
        id=event_id,
        type=kind,
        source=SOURCE,
        subject=subject,
        time=at,
        tenant_id=doc["tenant_id"],
        partition_key=doc.get("conversation_id") or doc["_id"],
        data=data,
    )


def _message_data(message: Doc) -> dict[str, Any]:
    return {
        "message_id": message["_id"],
        "conversation_id": message["conversation_id"],
        "channel": message["channel"],
        "direction": message["direction"],
        "user_id": message["user_id"],
        "text": message.get("text", ""),
    }


def _found(processing: Doc, result: str, key: str) -> Any:
    found = processing.get(result)
    return found.get(key) if isinstance(found, Mapping) else None


def processing_summary(processing: Doc) -> dict[str, Any]:
    """What consumers learn of a message's processing: labels and types, never the entities'
    or the message's text (docs/processing.md, "Events")."""
    entities = processing.get("entities")
    flags = _found(processing, "safety", "flags") or []
    return {
        "kind": processing.get("kind"),
        "language": _found(processing, "language", "code"),
        "entity_types": sorted({e["type"] for e in entities or () if isinstance(e, Mapping)}),
        "sentiment": _found(processing, "sentiment", "label"),
        "safety": {
            "action": _found(processing, "safety", "action"),
            "categories": sorted({f["category"] for f in flags if isinstance(f, Mapping)}),
        },
        "media_type": _found(processing, "media", "type"),
        "place": _found(processing, "location", "place"),
        "refused": _found(processing, "refused", "reason"),
    }


def message_received(inbound: Doc, processing: Doc | None = None) -> CloudEvent:
    """Staged at accept time; the process stage stages it anew (same id, not yet published)
    with the processing summary and the text the engine saw, redacted if the policy said so."""
    data = _message_data(inbound)
    if processing is not None:
        data["text"] = processing.get("engine_text", data["text"])
        data["processing"] = processing_summary(processing)
    return _event(
        f"{inbound['_id']}:received",
        "chat.message.received",
        inbound["_id"],
        inbound,
        inbound["created_at"],
        data,
    )


def message_sent(reply: Doc, provider_message_ids: list[str], at: datetime) -> CloudEvent:
    data = {
        **_message_data(reply),
        "in_reply_to": reply.get("in_reply_to"),
        "provider_message_ids": provider_message_ids,
    }
    return _event(f"{reply['_id']}:sent", "chat.message.sent", reply["_id"], reply, at, data)


# The receipts a reply's status moves announce, in the order a reply reaches them.
RECEIPTS = ("delivered", "read")


def receipts(message: Doc, status: str, at: datetime) -> list[CloudEvent]:
    """``chat.message.delivered`` / ``chat.message.read`` for a reply moving from its current
    status to ``status``: one per receipt it reaches, so a reply read without a delivery report
    (WhatsApp may send only ``read``) counts as delivered too. Each has the id
    ``<message id>:<receipt>``: a reply is delivered, and read, once."""
    if status not in RECEIPTS:
        return []
    current = message.get("status")
    reached = RECEIPTS[: RECEIPTS.index(status) + 1]
    already = RECEIPTS[: RECEIPTS.index(current) + 1] if current in RECEIPTS else ()
    return [
        _event(
            f"{message['_id']}:{receipt}",
            f"chat.message.{receipt}",
            message["_id"],
            message,
            at,
            {
                **_message_data(message),
                "status": receipt,
                "provider_message_id": message.get("provider_message_id"),
            },
        )
        for receipt in reached
        if receipt not in already
    ]


def message_failed(
    message: Doc, stage: str, classification: str, error: str, at: datetime
) -> CloudEvent:
    data = {**_message_data(message), "stage": stage, "reason": classification, "error": error}
    return _event(
        f"{message['_id']}:failed", "chat.message.failed", message["_id"], message, at, data
    )


def status_reported(message: Doc, status: str, at: datetime, error: Any = None) -> list[CloudEvent]:
    """The events of a reply's status moving to ``status`` on the provider's word: its receipts,
    or, for ``failed``, ``chat.message.failed`` with the reason ``provider_reported`` and the
    provider's ``error`` (its code and title, never a credential)."""
    if status == "failed":
        detail = str(error or "the provider reported the message failed")[:500]
        return [message_failed(message, "deliver", "provider_reported", detail, at)]
    return receipts(message, status, at)


def _conversation_data(conversation: Doc) -> dict[str, Any]:
    return {
        "conversation_id": conversation["_id"],
        "channel": conversation["channel"],
        "user_id": conversation["user_id"],
    }


def conversation_event_ids(conversation_id: str) -> tuple[str, str]:
    """The ids of a conversation's own events, ``started`` and ``ended``: one of each."""
    return f"{conversation_id}:started", f"{conversation_id}:ended"


def conversation_started(conversation: Doc) -> CloudEvent:
    return _event(
        conversation_event_ids(conversation["_id"])[0],
        "chat.conversation.started",
        conversation["_id"],
        conversation,
        conversation["created_at"],
        _conversation_data(conversation),
    )


def conversation_updated(inbound: Doc, reply: Doc | None, at: datetime) -> CloudEvent:
    data = {
        "conversation_id": inbound["conversation_id"],
        "last_inbound_id": inbound["_id"],
        "last_reply_id": reply["_id"] if reply else None,
    }
    return _event(
        f"{inbound['_id']}:conversation.updated",
        "chat.conversation.updated",
        inbound["conversation_id"],
        inbound,
        at,
        data,
    )


def conversation_ended(conversation: Doc, reason: str, at: datetime) -> CloudEvent:
    """A conversation closed (``reason``: ``closed`` by a caller, ``idle`` by the beat job);
    a conversation is closed once, so its id is the conversation's."""
    return _event(
        conversation_event_ids(conversation["_id"])[1],
        "chat.conversation.ended",
        conversation["_id"],
        conversation,
        at,
        {**_conversation_data(conversation), "reason": reason},
    )
