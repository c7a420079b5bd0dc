"""The Facebook Messenger channel: Meta's hub handshake and signature, page webhooks, Send API.

Config: ``account_id`` is the Page id; secrets ``page_token`` (Send API), ``app_secret``
(webhook signature) and ``verify_token`` (subscribe handshake).

The page token travels as ``Authorization: Bearer``, which Graph accepts as well as the
``access_token`` query parameter: a URL is logged by the HTTP client and quoted in its errors,
a header is not.

Parsing: text; image / video / audio / file / sticker / reel attachments (one message per
attachment, the second and later ones with ids ``<mid>:<n>``); legacy location; quick reply
taps (checked before text); postbacks. ``delivery`` gives one watermark update plus one update
per delivered mid; ``read`` gives a watermark update. Echoes of the Page's own sends, standby
(handover) events and other event types are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from channels.base import SendFailed, SendRejected, VerificationFailed
from channels.messenger_format import messages_for
from channels.meta import MetaWebhooks, graph_error, post_indicator, webhook_json
from channels.runtime import ChannelRuntime
from core.envelopes import (
    ChannelConfig,
    DeliveryState,
    InboundMessage,
    Outbound,
    Receipt,
    ReplyAddress,
    StatusUpdate,
    Webhook,
)
from core.retry_after import retry_after_seconds

# Outside the 24-hour window (10), no such user / bad parameter (100), token (190),
# permission (200), person unavailable (551): refused for good even when answered with a 5xx.
PERMANENT_CODES = frozenset({10, 100, 190, 200, 551})
# "Temporary send message failure", answered with a 4xx.
TEMPORARY_FAILURE_CODES = frozenset({1200})
MEDIA_TYPES = {"image", "video", "audio", "file", "reel", "ig_reel"}


@dataclass(frozen=True)
class MessengerChannel(MetaWebhooks):
    name: str = "messenger"

    def parse(self, raw_body: bytes, content_type: str) -> Webhook:
        body = webhook_json(raw_body, "Messenger")
        if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
            raise VerificationFailed("not a Messenger webhook")
        if body.get("object") != "page":
            return Webhook()  # another product's webhook (e.g. Instagram) sent to this route
        messages: list[InboundMessage] = []
        statuses: list[StatusUpdate] = []
        accounts: set[str] = set()
        for entry in map(_obj, body["entry"]):
            page_id = _id(entry.get("id"))
            accounts.add(page_id)
            for event in map(_obj, _list(entry.get("messaging"))):
                sender = _id(_obj(event.get("sender")).get("id"))
                recipient = _id(_obj(event.get("recipient")).get("id"))
                message = _obj(event.get("message"))
                if message.get("is_echo"):
                    accounts.add(sender)  # the Page's own send: its sender is the Page
                    continue
                accounts.add(recipient)
                account = page_id or recipient
                if not sender or not account:
                    continue
                at = _time(event.get("timestamp"))
                if message:
                    messages.extend(_from_message(message, account, sender, at))
                elif "postback" in event:
                    messages.extend(_from_postback(event, account, sender, at))
                elif "delivery" in event:
                    statuses.extend(_from_delivery(_obj(event["delivery"]), account, sender, at))
                elif "read" in event:
                    statuses.extend(_from_read(_obj(event["read"]), account, sender, at))
        accounts.discard("")
        return Webhook(messages=messages, statuses=statuses, account_ids=frozenset(accounts))

    def send(self, outbound: Outbound, config: ChannelConfig, runtime: ChannelRuntime) -> Receipt:
        token = _page_token(config)
        url = _send_url(runtime)
        headers = {"Authorization": f"Bearer {token}"}
        ids: list[str] = []
        # A reply answers a received message; a proactive message (docs/outbound.md) says how
        # it may be sent: ``UPDATE`` inside the 24-hour window, ``MESSAGE_TAG`` with its tag.
        kind = str(outbound.reply_to.get("messaging_type") or "RESPONSE")
        tag = outbound.reply_to.get("tag")
        for message in messages_for(outbound.parts, outbound.text):
            body = {
                "recipient": {"id": outbound.recipient},
                "messaging_type": kind,
                # Echoed back in the Page's echo webhook, so a sent message names its reply.
                "message": {**message, "metadata": outbound.message_id},
                **({"tag": str(tag)} if tag else {}),
            }
            ids.append(_post(runtime, url, headers, body))
        # An empty reply sends nothing, so no delivery callback will ever come for it.
        return Receipt(provider_message_ids=ids, delivered=not ids)

    def typing(self, to: ReplyAddress, config: ChannelConfig, runtime: ChannelRuntime) -> None:
        body = {"recipient": {"id": to.recipient}, "sender_action": "typing_on"}
        post_indicator(runtime, _send_url(runtime), _page_token(config), body, "Messenger")


MESSENGER = MessengerChannel()


def _page_token(config: ChannelConfig) -> str:
    token = config.secrets.get("page_token", "")
    if not token:
        raise SendRejected("the Messenger channel config has no page_token", code="config")
    return token


def _send_url(runtime: ChannelRuntime) -> str:
    return f"{runtime.urls.messenger_api.rstrip('/')}/me/messages"


def _post(runtime: ChannelRuntime, url: str, headers: dict[str, str], body: Any) -> str:
    """One Send API call; the provider's message id, or the typed error."""
    try:
        response = runtime.http.post(url, json=body, headers=headers, timeout=runtime.send_timeout)
    except httpx.TimeoutException as exc:
        raise SendFailed("Messenger send timed out") from exc
    except httpx.TransportError as exc:
        raise SendFailed(f"Messenger send failed: {type(exc).__name__}") from exc
    try:
        answer = _obj(response.json())
    except ValueError:
        answer = {}
    if response.is_success:
        mid = answer.get("message_id")
        if isinstance(mid, str) and mid:
            return mid
        raise SendFailed(f"Messenger answered HTTP {response.status_code} without a message_id")
    error = _obj(answer.get("error"))
    if error.get("code") in TEMPORARY_FAILURE_CODES:
        raise SendFailed(f"Messenger temporary send failure (HTTP {response.status_code})")
    raise graph_error(
        response.status_code, answer, retry_after_seconds(response.headers), PERMANENT_CODES
    )


def _from_message(
    message: dict[str, Any], account: str, user: str, at: datetime | None
) -> list[InboundMessage]:
    mid = _id(message.get("mid"))
    if not mid:
        return []
    text = _str(message.get("text"))
    quick_reply = _obj(message.get("quick_reply"))
    if quick_reply:
        payload = _str(quick_reply.get("payload"))
        content = {"type": "quick_reply", "id": payload, "title": text}
        return [
            InboundMessage(mid, account, user, "interactive", text or payload, content, sent_at=at)
        ]
    # A shared link comes as text plus a "fallback" attachment repeating the link.
    attachments = [
        a
        for a in map(_obj, _list(message.get("attachments")))
        if a.get("type") != "fallback" or not text
    ]
    parsed = [p for p in map(_attachment, attachments) if p is not None]
    if not parsed:
        return [InboundMessage(mid, account, user, "text", text, sent_at=at)] if text else []
    inbound: list[InboundMessage] = []
    for n, (kind, rendering, content) in enumerate(parsed):
        if n == 0 and text and kind in ("image", "media"):
            content, rendering = {**content, "caption": text}, text
        message_id = mid if n == 0 else f"{mid}:{n}"
        inbound.append(
            InboundMessage(message_id, account, user, kind, rendering, content, sent_at=at)
        )
    return inbound


def _attachment(attachment: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
    """(kind, text, content) for one attachment, or None for one Parley cannot use."""
    kind = _str(attachment.get("type"))
    payload = _obj(attachment.get("payload"))
    url = _str(payload.get("url")) or _str(attachment.get("url"))
    if kind == "location":
        coordinates = _obj(payload.get("coordinates"))
        lat, long = coordinates.get("lat"), coordinates.get("long")
        if not isinstance(lat, int | float) or not isinstance(long, int | float):
            return None
        content: dict[str, Any] = {"latitude": float(lat), "longitude": float(long)}
        name = _str(attachment.get("title"))
        if name:
            content["name"] = name
        return "location", name or f"{float(lat)},{float(long)}", content
    if kind == "fallback":
        rendering = url or _str(attachment.get("title"))
        return ("text", rendering, {"url": url}) if rendering else None
    if kind not in MEDIA_TYPES or not url:
        return None
    if kind == "image" and "sticker_id" in payload:
        return "media", "", {"type": "sticker", "url": url}
    return ("image" if kind == "image" else "media"), "", {"type": kind, "url": url}


def _from_postback(
    event: dict[str, Any], account: str, user: str, at: datetime | None
) -> list[InboundMessage]:
    postback = _obj(event["postback"])
    payload = _str(postback.get("payload"))
    title = _str(postback.get("title"))
    # Webhooks before Graph v11 carry no postback mid; the event's own fields are stable
    # across Meta's redeliveries.
    mid = _id(postback.get("mid")) or f"postback:{user}:{event.get('timestamp')}"
    content = {"type": "postback", "id": payload, "title": title}
    return [
        InboundMessage(mid, account, user, "interactive", title or payload, content, sent_at=at)
    ]


def _from_delivery(
    delivery: dict[str, Any], account: str, user: str, at: datetime | None
) -> list[StatusUpdate]:
    """Everything sent to ``user`` before the watermark, then each delivered mid named."""
    watermark = _time(delivery.get("watermark"))
    mids: list[str | None] = [mid for mid in map(_id, _list(delivery.get("mids"))) if mid]
    if watermark is not None:
        mids.insert(0, None)  # the watermark update itself names no message
    return [
        StatusUpdate(
            account_id=account,
            state=DeliveryState.DELIVERED,
            provider_message_id=mid,
            user_id=user,
            watermark=watermark,
            at=at,
        )
        for mid in mids
    ]


def _from_read(
    read: dict[str, Any], account: str, user: str, at: datetime | None
) -> list[StatusUpdate]:
    """Everything sent to ``user`` before the watermark has been read."""
    watermark = _time(read.get("watermark"))
    if watermark is None:
        return []
    return [
        StatusUpdate(
            account_id=account, state=DeliveryState.READ, user_id=user, watermark=watermark, at=at
        )
    ]


def _time(value: Any) -> datetime | None:
    """A Messenger timestamp (Unix milliseconds) as an aware UTC datetime."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _id(value: Any) -> str:
    if isinstance(value, bool):
        return ""
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else ""


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
