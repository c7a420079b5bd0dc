"""The analytics fact an event makes (storage/analytics.py), or none for an event not counted.

Everything a fact holds is fixed by the event and by stored documents that do not change once
the event exists (a message's ``created_at``, a reply's ``journey.sent``), so building the fact
again for a redelivery gives the same fact. A reply's times come from the stored messages, not
from the sent event: its ``time`` is taken a moment before the reply's ``journey.sent`` is
written, and the stored documents are what a reader can check the figures against.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo.database import Database

from core.timeutil import as_utc
from storage.analytics import FACTS_COLLECTION, Fact, Kind, bucket_keys
from storage.by_id import find_by_id
from storage.event_ledger import record_id

HANDLER = "analytics"
# Event type → what its fact counts; system.error counts only its dead letters.
KINDS: dict[str, Kind] = {
    "chat.message.received": "in",
    "chat.message.sent": "out",
    "chat.message.delivered": "delivered",
    "chat.message.read": "read",
    "chat.message.failed": "failed",
    "chat.conversation.started": "started",
    "chat.conversation.ended": "ended",
    "system.error": "dead_letter",
}


def parse_time(text: str) -> datetime:
    """An event's ``time`` (RFC 3339), cut to milliseconds like every stored time."""
    at = as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def _ms(later: datetime, earlier: datetime) -> int:
    return round((as_utc(later) - as_utc(earlier)).total_seconds() * 1000)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class FactBuilder:
    """Builds facts, reading the stored messages a reply's durations need."""

    def __init__(self, db: Database[Any], collection: str = FACTS_COLLECTION) -> None:
        self._messages = db["messages"]
        self._facts = db[collection]

    def fact_of(self, event: Mapping[str, Any]) -> Fact | None:
        kind = KINDS.get(str(event.get("type")))
        data: Mapping[str, Any] = event.get("data") or {}
        tenant_id = event.get("tenantid")
        if kind is None or not isinstance(tenant_id, str) or tenant_id == "*":
            return None
        if kind == "dead_letter" and data.get("kind") != "dead_letter":
            return None
        at = parse_time(str(event["time"]))
        fact: Fact = {
            "_id": record_id(HANDLER, str(event["id"])),
            "tenant_id": tenant_id,
            "channel": _text(data.get("channel")),
            "conversation_id": _text(data.get("conversation_id")),
            "message_id": _text(data.get("message_id")),
            "kind": kind,
            "at": at,
            "minute": "",
            "hour": "",
            "day": "",
        }
        if kind == "in":
            processing = data.get("processing")
            labels: Mapping[str, Any] = processing if isinstance(processing, Mapping) else {}
            fact["language"] = _text(labels.get("language"))
            fact["sentiment"] = _text(labels.get("sentiment"))
        elif kind in ("failed", "dead_letter", "ended"):
            fact["reason"] = _text(data.get("reason"))
        elif kind == "out":
            self._reply_times(fact, tenant_id, data)
        fact.update(bucket_keys(fact["at"]))  # type: ignore[typeddict-item]
        return fact

    def _reply_times(self, fact: Fact, tenant_id: str, data: Mapping[str, Any]) -> None:
        """A reply's sent time (its ``journey.sent``, else the event's), its response time
        (sent - its inbound's ``created_at``) and its generate time (the reply's
        ``created_at`` - the inbound's ``journey.processed``)."""
        reply = self._message(tenant_id, fact["message_id"])
        inbound = self._message(tenant_id, _text(data.get("in_reply_to")))
        sent = (reply or {}).get("journey", {}).get("sent")
        if isinstance(sent, datetime):
            fact["at"] = as_utc(sent)
        received = (inbound or {}).get("created_at")
        if not isinstance(received, datetime) and data.get("in_reply_to"):
            # The inbound is gone (retention): its received fact keeps its time.
            earlier = self._facts.find_one(
                {"_id": record_id(HANDLER, f"{data['in_reply_to']}:received")}, {"at": 1}
            )
            received = earlier["at"] if earlier else None
        fact["response_ms"] = _ms(fact["at"], received) if isinstance(received, datetime) else None
        processed = (inbound or {}).get("journey", {}).get("processed")
        generated = (reply or {}).get("created_at")
        both = isinstance(processed, datetime) and isinstance(generated, datetime)
        fact["engine_ms"] = _ms(generated, processed) if both else None  # type: ignore[arg-type]

    def _message(self, tenant_id: str, message_id: str | None) -> dict[str, Any] | None:
        if message_id is None:
            return None
        return find_by_id(self._messages, message_id, {"tenant_id": tenant_id})
