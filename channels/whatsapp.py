"""The WhatsApp Business Cloud API channel: Meta-signed webhooks in, Graph ``/messages`` out.

Config: ``account_id`` is the business phone number's ``phone_number_id``; secrets are
``access_token`` (sends), ``app_secret`` (webhook signatures) and ``verify_token`` (the
subscribe handshake). Options: ``quote_replies`` ("true" to quote the user's message in the
first reply message), ``list_button_label`` (the button that opens a list of options) and
``business_account_id`` (the WABA whose templates are synced and checked before a send:
channels/whatsapp_templates.py).

Inbound messages carry ``reply_to={"wamid": ...}``. A 200 from Graph only means accepted, so
receipts are never ``delivered``: sent/delivered/read/failed arrive later as status webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote as percent_encode

import httpx

from channels.base import SendFailed, SendRejected, VerificationFailed
from channels.meta import MetaWebhooks, graph_error, post_indicator, webhook_json
from channels.runtime import ChannelRuntime
from channels.whatsapp_format import message_bodies
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

# Graph codes that stay refused even when Meta answers them with a 5xx: recipient and window
# problems, bad requests and templates, credentials and permissions, account and policy blocks.
PERMANENT_CODES = frozenset(
    {0, 3, 10, 100, 190, 368, 131008, 131009, 131021, 131026, 131030, 131031, 131042}
    | {131045, 131047, 131048, 131049, 131050, 131051, 131057, 133010}
    | {132000, 132001, 132005, 132007, 132012, 132015, 132016}
    | set(range(200, 300))
)
MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
_MEDIA_FIELDS = (("media_id", "id"), ("mime_type", "mime_type"), ("caption", "caption"))
_TRUE = frozenset({"1", "true", "yes", "on"})

Reading = tuple[str, str, dict[str, Any]]  # kind, text, content


@dataclass(frozen=True)
class WhatsAppChannel(MetaWebhooks):
    name: str = "whatsapp"

    def parse(self, raw_body: bytes, content_type: str) -> Webhook:
        body = webhook_json(raw_body, "WhatsApp")
        if not isinstance(body, dict) or body.get("object") != "whatsapp_business_account":
            raise VerificationFailed("not a WhatsApp Business Account webhook")
        messages: list[InboundMessage] = []
        statuses: list[StatusUpdate] = []
        accounts: set[str] = set()
        for entry in _records(body.get("entry")):
            for change in _records(entry.get("changes")):
                value = change.get("value")
                account_id = _account_id(value)
                if not isinstance(value, dict) or not account_id:
                    continue
                accounts.add(account_id)
                if change.get("field") != "messages":
                    continue  # template, quality and account updates are not conversation
                names = _contact_names(value.get("contacts"))
                for item in _records(value.get("messages")):
                    if (message := _message(item, account_id, names)) is not None:
                        messages.append(message)
                for item in _records(value.get("statuses")):
                    if (status := _status(item, account_id)) is not None:
                        statuses.append(status)
        return Webhook(messages=messages, statuses=statuses, account_ids=frozenset(accounts))

    def send(self, outbound: Outbound, config: ChannelConfig, runtime: ChannelRuntime) -> Receipt:
        token = _access_token(config)
        quote = str(config.options.get("quote_replies", "")).strip().lower() in _TRUE
        bodies = message_bodies(
            outbound,
            quote_wamid=outbound.reply_to.get("wamid") if quote else None,
            list_label=config.options.get("list_button_label"),
        )
        if not bodies:
            raise SendRejected("the reply has no content to send on WhatsApp")
        headers = {"Authorization": f"Bearer {token}"}
        ids = [_post(runtime, _messages_url(config, runtime), headers, body) for body in bodies]
        return Receipt(provider_message_ids=ids, delivered=False)

    def typing(self, to: ReplyAddress, config: ChannelConfig, runtime: ChannelRuntime) -> None:
        # WhatsApp shows typing only with a read mark of the message being answered.
        wamid = str(to.reply_to.get("wamid") or "")
        if not wamid:
            raise SendRejected("no WhatsApp message to mark read with a typing indicator")
        body = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
            "typing_indicator": {"type": "text"},
        }
        url = _messages_url(config, runtime)
        post_indicator(runtime, url, _access_token(config), body, "WhatsApp")


WHATSAPP = WhatsAppChannel()


def _access_token(config: ChannelConfig) -> str:
    token = config.secrets.get("access_token", "")
    if not token:
        raise SendRejected("the WhatsApp channel config has no access token")
    return token


def _messages_url(config: ChannelConfig, runtime: ChannelRuntime) -> str:
    number = percent_encode(config.account_id, safe="")  # one path segment, whatever is stored
    return f"{runtime.urls.whatsapp_api.rstrip('/')}/{number}/messages"


def _post(runtime: ChannelRuntime, url: str, headers: dict[str, str], body: dict[str, Any]) -> str:
    """One Graph send; the new message's wamid, or the classified error."""
    try:
        response = runtime.http.post(url, json=body, headers=headers, timeout=runtime.send_timeout)
    except httpx.TimeoutException as exc:
        raise SendFailed("WhatsApp send timed out") from exc
    except httpx.TransportError as exc:
        raise SendFailed(f"WhatsApp send failed: {type(exc).__name__}") from exc
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not response.is_success:
        raise graph_error(
            response.status_code, answer, retry_after_seconds(response.headers), PERMANENT_CODES
        )
    sent = _records(answer.get("messages")) if isinstance(answer, dict) else []
    wamid = sent[0].get("id") if sent else None
    if not isinstance(wamid, str) or not wamid:
        raise SendFailed(f"WhatsApp answered HTTP {response.status_code} without a message id")
    return wamid


def _records(value: Any) -> list[dict[str, Any]]:
    """The objects in a JSON array; anything else (or a non-array) yields nothing."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _account_id(value: Any) -> str:
    metadata = value.get("metadata") if isinstance(value, dict) else None
    account_id = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    return str(account_id) if account_id else ""


def _contact_names(contacts: Any) -> dict[str, str]:
    """Profile names by every id a contact is known under (``wa_id``, business-scoped id)."""
    names: dict[str, str] = {}
    for contact in _records(contacts):
        profile = contact.get("profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        if isinstance(name, str) and name:
            for key in ("wa_id", "user_id"):
                if contact.get(key):
                    names[str(contact[key])] = name
    return names


def _message(item: dict[str, Any], account_id: str, names: dict[str, str]) -> InboundMessage | None:
    wamid = item.get("id")
    user_id = str(item.get("from") or item.get("from_user_id") or "")
    reading = _reading(item)
    if not isinstance(wamid, str) or not wamid or not user_id or reading is None:
        return None
    kind, text, content = reading
    return InboundMessage(
        provider_message_id=wamid,
        account_id=account_id,
        user_id=user_id,
        kind=kind,
        text=text,
        content=content,
        reply_to={"wamid": wamid},
        user_name=names.get(user_id),
        sent_at=_time(item.get("timestamp")),
    )


def _reading(item: dict[str, Any]) -> Reading | None:
    """Kind, text and content of a user message; None for types Parley does not take."""
    kind = item.get("type")
    data = item.get(kind) if isinstance(kind, str) else None
    if not isinstance(data, dict):
        return None
    if kind == "text":
        body = data.get("body")
        return ("text", body, {}) if isinstance(body, str) else None
    if kind in MEDIA_TYPES:
        fields = (*_MEDIA_FIELDS, ("filename", "filename")) if kind == "document" else _MEDIA_FIELDS
        content = {key: str(data[name]) for key, name in fields if data.get(name)}
        return ("image" if kind == "image" else "media", content.get("caption", ""), content)
    if kind == "location":
        return _location(data)
    if kind == "interactive":
        reply_type = data.get("type")
        choice = data.get(reply_type) if reply_type in ("button_reply", "list_reply") else None
        if isinstance(choice, dict):
            return _choice(str(reply_type), choice.get("id"), choice.get("title"))
        return None
    if kind == "button":  # a template's quick-reply button
        return _choice("quick_reply", data.get("payload"), data.get("text"))
    return None


def _location(data: dict[str, Any]) -> Reading | None:
    try:
        latitude, longitude = float(data["latitude"]), float(data["longitude"])
    except (KeyError, TypeError, ValueError):
        return None
    content: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    content |= {key: str(data[key]) for key in ("name", "address") if data.get(key)}
    return "location", content.get("name") or f"{latitude},{longitude}", content


def _choice(reply_type: str, option_id: Any, title: Any) -> Reading | None:
    if not option_id:
        return None
    title = str(title or option_id)
    return "interactive", title, {"type": reply_type, "id": str(option_id), "title": title}


def _status(item: dict[str, Any], account_id: str) -> StatusUpdate | None:
    wamid, status = item.get("id"), item.get("status")
    if not isinstance(wamid, str) or not wamid or not isinstance(status, str):
        return None
    try:
        state = DeliveryState(status)
    except ValueError:
        return None  # e.g. "deleted" or "warning": not a delivery state
    errors = _records(item.get("errors"))
    return StatusUpdate(
        account_id=account_id,
        state=state,
        provider_message_id=wamid,
        error=_status_error(errors[0]) if errors and state is DeliveryState.FAILED else None,
        at=_time(item.get("timestamp")),
    )


def _status_error(error: dict[str, Any]) -> dict[str, Any]:
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    return {
        "code": error.get("code"),
        "title": error.get("title"),
        "message": error.get("message"),
        "details": details,
    }


def _time(timestamp: Any) -> datetime | None:
    """Meta's Unix-seconds timestamps (sent as strings) as aware UTC datetimes."""
    try:
        return datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
