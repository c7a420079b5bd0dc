"""The web widget channel: a reply goes out as a ``message`` event on the visitor's stream,
which every ingress process holding one of the visitor's sockets reads (docs/widget-protocol.md).

Sending is publishing, so the receipt names the reply itself and is not a delivery: the
browser's ``delivered`` / ``read`` frames move the reply on, as a provider's callbacks would.
The widget draws text, quick replies, media and cards; every other part reaches it as a text
part written by the shared ``degrade_to_text``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from channels.base import SendFailed, SendRejected
from channels.content import ReplyPart, degrade_to_text
from channels.runtime import ChannelRuntime
from core.envelopes import ChannelConfig, Outbound, Receipt
from core.states import Status
from core.timeutil import utcnow
from core.visitor_events import message_event

WIDGET_PARTS = frozenset({"text", "quick_replies", "media", "card"})


def widget_parts(parts: list[ReplyPart]) -> list[ReplyPart]:
    """The parts as the widget can draw them: those it knows as they are, the rest as text."""
    return [
        part
        if part.get("type") in WIDGET_PARTS
        else {"type": "text", "text": degrade_to_text([part])}
        for part in parts
    ]


class VisitorEventPublisher(Protocol):
    """Appends an event to one visitor's stream; returns its id (storage/visitor_streams.py)."""

    def publish(
        self, tenant_id: str, widget_id: str, visitor_id: str, event: dict[str, Any]
    ) -> str: ...


@dataclass(frozen=True)
class WebChannel:
    name: str = "web"
    # The widget shows a reply as one message, so the deliver stage hands it over whole.
    whole_reply: ClassVar[bool] = True

    def send(self, outbound: Outbound, config: ChannelConfig, runtime: ChannelRuntime) -> Receipt:
        widget_id = outbound.reply_to.get("widget_id")
        if not isinstance(widget_id, str) or not widget_id:
            raise SendRejected("the web message names no widget to answer on", "no-widget")
        if runtime.visitor_events is None:
            raise SendFailed("this process has no visitor stream to publish to")
        reply = {
            "_id": outbound.message_id,
            "conversation_id": outbound.conversation_id,
            "direction": "outbound",
            "text": outbound.text,
            "parts": widget_parts(outbound.parts),
            "status": Status.SENT.value,
            "created_at": utcnow(),
        }
        try:
            runtime.visitor_events.publish(
                outbound.tenant_id, widget_id, outbound.recipient, message_event(reply)
            )
        except Exception as exc:  # the publisher's store errors are its own; each is retried
            name = type(exc).__name__
            raise SendFailed(f"the visitor's stream refused the reply: {name}") from exc
        return Receipt(provider_message_ids=[outbound.message_id], delivered=False)


WEB = WebChannel()
