"""The Microsoft Teams channel: Bot Framework activities in (JWT-verified), connector replies out.

Connector answers map once, here: 429 → RateLimited (Retry-After when given); 401 → the cached
token is dropped and SendFailed, so the retry fetches a fresh one; 408, 412, 5xx, timeouts and
connection errors → SendFailed; any other 4xx (400 BadArgument, 403 ConversationBlockedByUser /
BotNotInConversationRoster, 404 ConversationNotFound, 413 MessageSizeTooBig) →
SendRejected(code=error.code). Teams has no delivery callbacks, so a sent reply is delivered;
read receipts later move it to read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from channels.base import ChannelError, RateLimited, SendFailed, SendRejected, VerificationFailed
from channels.runtime import ChannelRuntime
from channels.teams_activity import listed, mapping, reply_to_of, timestamp
from channels.teams_auth import (
    access_token,
    drop_access_token,
    verify_activity,
    verify_bearer,
)
from channels.teams_format import activities, typing_activity
from channels.teams_invoke import ADAPTIVE_CARD_ACTION, card_execute
from channels.teams_lifecycle import lifecycle_events
from core.envelopes import (
    ChannelConfig,
    DeliveryState,
    Headers,
    InboundMessage,
    Outbound,
    Receipt,
    ReplyAddress,
    StatusUpdate,
    Webhook,
)
from core.retry_after import retry_after_seconds

READ_RECEIPT = "application/vnd.microsoft.readReceipt"
FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
BOT_ID_PREFIX = "28:"  # Teams names the bot "28:<app id>"; configs hold the bare app id


def app_id_of(bot_id: str) -> str:
    """The Microsoft app id behind a Teams bot account id."""
    return bot_id.removeprefix(BOT_ID_PREFIX)


@dataclass(frozen=True)
class TeamsChannel:
    """Teams through the Bot Connector. ``ChannelConfig.account_id`` is the bot's Microsoft app
    id; secret ``app_password``; option ``azure_tenant`` (a tenant id for single-tenant bots)."""

    name: str = "teams"

    def handshake(self, query: Mapping[str, str], config: ChannelConfig) -> str:
        raise VerificationFailed("Teams has no handshake; every activity carries a JWT")

    def verify(
        self, headers: Headers, raw_body: bytes, config: ChannelConfig, runtime: ChannelRuntime
    ) -> None:
        # The token first: nothing an unauthenticated caller sends is parsed before it checks.
        token = verify_bearer(headers.get("authorization", ""), config.account_id, runtime)
        verify_activity(token, _activity(raw_body))

    def parse(self, raw_body: bytes, content_type: str) -> Webhook:
        activity = _activity(raw_body)
        bot_id = str(mapping(activity.get("recipient")).get("id") or "")
        account_id = app_id_of(bot_id)
        account_ids = frozenset({account_id}) if account_id else frozenset()
        kind = activity.get("type")
        if kind == "message":
            message = _message(activity, account_id, bot_id)
            return Webhook(messages=[message] if message else [], account_ids=account_ids)
        if kind == "invoke" and activity.get("name") == ADAPTIVE_CARD_ACTION:
            return card_execute(activity, account_id, bot_id)
        if kind == "event" and activity.get("name") == READ_RECEIPT:
            status = _read_receipt(activity, account_id)
            return Webhook(statuses=[status] if status else [], account_ids=account_ids)
        # Installs, members and meetings; other invokes (message extensions), reactions: none.
        return Webhook(
            events=lifecycle_events(activity, account_id, bot_id), account_ids=account_ids
        )

    def send(self, outbound: Outbound, config: ChannelConfig, runtime: ChannelRuntime) -> Receipt:
        reply_to = outbound.reply_to
        service_url, conversation_id = _conversation(reply_to)
        messages = activities(outbound.parts, outbound.text, reply_to, outbound.recipient)
        if not messages:
            return Receipt(provider_message_ids=[], delivered=True)
        url = _activities_url(service_url, conversation_id, str(reply_to.get("activity_id") or ""))
        token = access_token(config, runtime)
        timeout = runtime.send_timeout
        ids = [_post(url, message, token, config, runtime, timeout) for message in messages]
        return Receipt(provider_message_ids=[i for i in ids if i], delivered=True)

    def typing(self, to: ReplyAddress, config: ChannelConfig, runtime: ChannelRuntime) -> None:
        service_url, conversation_id = _conversation(to.reply_to)
        url = _activities_url(service_url, conversation_id, "")
        activity = typing_activity(to.reply_to, to.recipient)
        token = access_token(config, runtime)
        _post(url, activity, token, config, runtime, runtime.indicator_timeout)


TEAMS = TeamsChannel()


def _conversation(reply_to: Mapping[str, Any]) -> tuple[str, str]:
    """The serviceUrl and conversation id an inbound activity came from."""
    service_url = str(reply_to.get("service_url") or "")
    conversation_id = str(reply_to.get("conversation_id") or "")
    if not service_url or not conversation_id:
        raise SendRejected("no Teams conversation to answer in", "no_conversation")
    return service_url, conversation_id


def _activities_url(service_url: str, conversation_id: str, activity_id: str) -> str:
    base = service_url if service_url.endswith("/") else service_url + "/"
    url = f"{base}v3/conversations/{quote(conversation_id, safe='')}/activities"
    return f"{url}/{quote(activity_id, safe='')}" if activity_id else url


def _post(
    url: str,
    activity: Mapping[str, Any],
    token: str,
    config: ChannelConfig,
    runtime: ChannelRuntime,
    timeout: float,
) -> str:
    """One activity to the connector; its new activity id ("" if the connector gave none)."""
    try:
        response = runtime.http.post(
            url, json=activity, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )
    except httpx.TimeoutException as exc:
        raise SendFailed("Teams connector timed out") from exc
    except httpx.TransportError as exc:
        raise SendFailed(f"Teams connector unreachable ({type(exc).__name__})") from exc
    if response.is_success:
        body = _json(response.content)
        return str(body.get("id") or "")
    if response.status_code == 401:
        drop_access_token(config, runtime)
    raise _connector_error(response)


def _connector_error(response: httpx.Response) -> ChannelError:
    status = response.status_code
    error = mapping(_json(response.content).get("error"))
    code = str(error["code"]) if error.get("code") else None
    label = f"Teams connector HTTP {status} {code or ''}: {str(error.get('message', ''))[:200]}"
    if status == 429:
        return RateLimited(label, retry_after_seconds(response.headers))
    if status in (401, 408, 412) or status >= 500:
        return SendFailed(label)
    return SendRejected(label, code)


def _activity(raw_body: bytes) -> Mapping[str, Any]:
    activity = _json(raw_body)
    if not activity.get("type"):
        raise VerificationFailed("the body is not a Bot Framework activity")
    return activity


def _json(raw: bytes) -> Mapping[str, Any]:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):  # nesting deep enough to exhaust the parser's stack
        return {}
    return document if isinstance(document, dict) else {}


def _message(activity: Mapping[str, Any], account_id: str, bot_id: str) -> InboundMessage | None:
    sender = mapping(activity.get("from"))
    user_id = str(sender.get("id") or "")
    activity_id = str(activity.get("id") or "")
    if not user_id or not activity_id or user_id == bot_id:
        return None
    found = _content(activity, _without_bot_mentions(activity, bot_id))
    if found is None:
        return None
    kind, text, content = found
    return InboundMessage(
        provider_message_id=activity_id,
        account_id=account_id,
        user_id=user_id,
        kind=kind,
        text=text,
        content=content,
        reply_to=reply_to_of(activity, bot_id, activity_id),
        user_name=str(sender["name"]) if sender.get("name") else None,
        sent_at=timestamp(activity.get("timestamp")),
    )


def _without_bot_mentions(activity: Mapping[str, Any], bot_id: str) -> str:
    """The text without the ``<at>Bot</at>`` that addressed the bot in a channel or group."""
    text = str(activity.get("text") or "")
    for entity in map(mapping, listed(activity.get("entities"))):
        mentioned = mapping(entity.get("mentioned"))
        if entity.get("type") == "mention" and mentioned.get("id") == bot_id and entity.get("text"):
            text = text.replace(str(entity["text"]), "")
    return text.strip()


def _content(activity: Mapping[str, Any], text: str) -> tuple[str, str, dict[str, Any]] | None:
    """(kind, text, content) of a user message, or None when it carries nothing for Parley.
    One activity is one message: the first image or file wins."""
    value = activity.get("value")
    if value is not None and not text:
        return _card_submit(value)
    for attachment in map(mapping, listed(activity.get("attachments"))):
        content_type = str(attachment.get("contentType") or "")
        if content_type.startswith("image/") and attachment.get("contentUrl"):
            # The URL needs the bot's bearer token to download.
            image = {"url": attachment["contentUrl"], "mime_type": content_type, "caption": text}
            return "image", text, image
        if content_type == FILE_DOWNLOAD_INFO:
            file = mapping(attachment.get("content"))
            media = {
                "media_id": file.get("uniqueId"),
                "url": file.get("downloadUrl"),  # pre-authorised, short-lived
                "filename": attachment.get("name"),
                "caption": text,
            }
            return "media", text or str(attachment.get("name") or ""), media
    for entity in map(mapping, listed(activity.get("entities"))):
        point = _coordinates(entity) if entity.get("type") == "GeoCoordinates" else None
        if point is not None:
            place = {"latitude": point[0], "longitude": point[1], "name": entity.get("name")}
            return "location", str(entity.get("name") or f"{point[0]},{point[1]}"), place
    return ("text", text, {}) if text else None


def _coordinates(entity: Mapping[str, Any]) -> tuple[float, float] | None:
    try:
        return float(entity["latitude"]), float(entity["longitude"])
    except (KeyError, TypeError, ValueError):
        return None


def _card_submit(value: Any) -> tuple[str, str, dict[str, Any]]:
    """An Adaptive Card ``Action.Submit``: its data merged with the card's inputs."""
    values = dict(value) if isinstance(value, Mapping) else {"value": value}
    option = str(values.get("action") or values.get("id") or "submit")
    title = str(values.get("title") or option)
    content = {"type": "card_submit", "id": option, "title": title, "values": values}
    return "interactive", title, content


def _read_receipt(activity: Mapping[str, Any], account_id: str) -> StatusUpdate | None:
    last_read = mapping(activity.get("value")).get("lastReadMessageId")
    if not last_read:
        return None
    sender = mapping(activity.get("from"))
    return StatusUpdate(
        account_id=account_id,
        state=DeliveryState.READ,
        provider_message_id=str(last_read),
        # The id the user's messages are stored under, so the receipt matches only replies to
        # this user through this config (activity ids repeat across conversations).
        user_id=str(sender.get("id") or "") or None,
        at=timestamp(activity.get("timestamp")),
    )
