"""Slack as a Parley channel: signed Events API and interactivity webhooks in, chat.postMessage out.

Slack's answers map to Parley's errors once, in ``channels/slack_api.py``.

Slack sends no delivery or read callbacks, so a posted message counts as delivered. Inbound, a
user message is identified by ``<channel>:<ts>``: an ``app_mention`` and a ``message`` event for
the same message (different ``event_id``s) then dedupe to one, while ``Webhook.event_id`` keeps
Slack's delivery id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from channels import slack_api, slack_choice
from channels.base import SendFailed, SendRejected, VerificationFailed
from channels.runtime import ChannelRuntime
from channels.slack_format import message_bodies
from core.envelopes import ChannelConfig, Headers, InboundMessage, Outbound, Receipt, Webhook

POST_MESSAGE = "chat.postMessage"
SIGNATURE_WINDOW_SECONDS = 300
TIMESTAMP_MAX_DIGITS = 12
# Message subtypes a person writes; edits, deletions, joins and bot posts are not questions.
USER_SUBTYPES = frozenset({"", "file_share", "thread_broadcast"})
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_LEADING_MENTION = re.compile(r"\s*<@([A-Z0-9]+)(?:\|[^>]*)?>[\s,:]*")


def verify_signature(headers: Headers, raw_body: bytes, signing_secret: str, now: float) -> None:
    """``X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<ts>:<raw body>")>`` with an
    ``X-Slack-Request-Timestamp`` within five minutes of ``now``, either way (replays)."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    received = headers.get("x-slack-signature", "").strip().lower()
    if not _is_timestamp(timestamp) or not received.startswith("v0="):
        raise VerificationFailed("missing or malformed Slack signature headers")
    if not signing_secret:
        raise VerificationFailed("the channel config has no signing secret")
    if abs(now - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        raise VerificationFailed("Slack request timestamp is outside the 5-minute window")
    base = b"v0:" + timestamp.encode() + b":" + raw_body
    expected = "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), received.encode()):
        raise VerificationFailed("Slack signature does not match")


def _is_timestamp(value: str) -> bool:
    """Unix seconds in ASCII digits; a few digits more than today's ten at most, so ``int`` is
    never asked for thousands (which it refuses, and which no clock sends)."""
    return value.isascii() and value.isdigit() and len(value) <= TIMESTAMP_MAX_DIGITS


@dataclass(frozen=True)
class SlackChannel:
    """Config: ``account_id`` is the team id (T…); secrets ``bot_token`` (xoxb-…) and
    ``signing_secret``. The bot's own user id comes from each event's ``authorizations``."""

    name: str = "slack"

    def handshake(self, query: Mapping[str, str], config: ChannelConfig) -> str:
        raise VerificationFailed("Slack has no GET handshake; it sends a signed url_verification")

    def verify(
        self, headers: Headers, raw_body: bytes, config: ChannelConfig, runtime: ChannelRuntime
    ) -> None:
        verify_signature(headers, raw_body, config.secrets.get("signing_secret", ""), time.time())

    def parse(self, raw_body: bytes, content_type: str) -> Webhook:
        body = _decode(raw_body, content_type)
        kind = body.get("type")
        if kind == "url_verification":
            challenge = body.get("challenge")
            if not isinstance(challenge, str) or not challenge:
                raise VerificationFailed("url_verification without a challenge")
            return Webhook(response={"challenge": challenge})
        if kind == "block_actions":
            return _block_actions(body)
        team_id = body.get("team_id") or _object(body, "team").get("id")
        accounts = frozenset({team_id}) if isinstance(team_id, str) and team_id else frozenset()
        if kind != "event_callback":  # app_rate_limited, modals, shortcuts: nothing to answer
            return Webhook(account_ids=accounts)
        event_id = body.get("event_id")
        message = _event_message(body)
        return Webhook(
            messages=[message] if message else [],
            account_ids=accounts,
            event_id=event_id if isinstance(event_id, str) else None,
        )

    def send(self, outbound: Outbound, config: ChannelConfig, runtime: ChannelRuntime) -> Receipt:
        token = _bot_token(config)
        channel = str(outbound.reply_to.get("channel") or outbound.recipient)
        thread_ts = outbound.reply_to.get("thread_ts")
        bodies = message_bodies(outbound.parts, outbound.text, channel, thread_ts)
        ids = [_posted_ts(slack_api.call(runtime, token, POST_MESSAGE, b)) for b in bodies]
        return Receipt(provider_message_ids=ids, delivered=True)

    def show_choice(
        self, clicked: Mapping[str, Any], title: str, config: ChannelConfig, runtime: ChannelRuntime
    ) -> None:
        slack_choice.show_choice(runtime, _bot_token(config), clicked, title)


SLACK = SlackChannel()


def _bot_token(config: ChannelConfig) -> str:
    token = config.secrets.get("bot_token", "")
    if not token:
        raise SendRejected("the Slack channel config has no bot token", code="no_bot_token")
    return token


def _decode(raw_body: bytes, content_type: str) -> dict[str, Any]:
    """Events arrive as JSON; interactivity as a form whose one field ``payload`` is JSON."""
    try:
        if content_type.split(";")[0].strip().lower() == FORM_CONTENT_TYPE:
            data = json.loads(parse_qs(raw_body.decode())["payload"][0])
        else:
            data = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        raise VerificationFailed("not a Slack webhook body") from exc
    if not isinstance(data, dict):
        raise VerificationFailed("not a Slack webhook body")
    return data


def _event_message(envelope: dict[str, Any]) -> InboundMessage | None:
    """The user message an event carries: any DM message, and mentions of the bot elsewhere
    (plain channel chatter is not addressed to the bot). None for bot and system events."""
    event = _object(envelope, "event")
    kind = event.get("type")
    if not (kind == "app_mention" or (kind == "message" and event.get("channel_type") == "im")):
        return None
    if (event.get("subtype") or "") not in USER_SUBTYPES or event.get("bot_id"):
        return None
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    bots = _bot_user_ids(envelope)
    if not (isinstance(user, str) and isinstance(channel, str) and isinstance(ts, str)):
        return None
    if not user or user in bots:
        return None
    text = str(event.get("text") or "")
    if kind == "app_mention":
        text = _strip_bot_mention(text, bots)
    text = _unescape(text)
    # In channels the bot answers in a thread; a DM is answered in place unless already threaded.
    thread_ts = event.get("thread_ts") or (ts if kind == "app_mention" else None)
    files = [f for f in event.get("files") or [] if isinstance(f, dict)]
    message_kind, content = "text", dict[str, Any]()
    if files:  # one message per user message: its first file, captioned by the text
        message_kind, content = _file(files[0], text)
        text = text or str(content.get("filename", ""))
    return InboundMessage(
        provider_message_id=f"{channel}:{ts}",
        account_id=str(envelope.get("team_id", "")),
        user_id=user,
        kind=message_kind,
        text=text,
        content=content,
        reply_to={"channel": channel, **({"thread_ts": thread_ts} if thread_ts else {})},
        sent_at=_timestamp(ts),
    )


def _file(file: dict[str, Any], caption: str) -> tuple[str, dict[str, Any]]:
    mime_type = str(file.get("mimetype") or "")
    content = {
        "media_id": file.get("id"),
        "url": file.get("url_private"),  # downloading needs the bot token (files:read)
        "mime_type": mime_type or None,
        "caption": caption or None,
        "filename": file.get("name"),
    }
    kind = "image" if mime_type.startswith("image/") else "media"
    return kind, {key: value for key, value in content.items() if value}


def _block_actions(payload: dict[str, Any]) -> Webhook:
    """A button click or menu choice on a message the bot posted, answered where it was made."""
    team_id = str(_object(payload, "team").get("id") or "")
    accounts = frozenset({team_id}) if team_id else frozenset()
    user, container = _object(payload, "user"), _object(payload, "container")
    message = _object(payload, "message")
    channel = container.get("channel_id") or _object(payload, "channel").get("id")
    if not (user.get("id") and channel):  # clicks in modals and App Home have no conversation
        return Webhook(account_ids=accounts)
    clicked = _clicked(container, message, str(channel))
    thread_ts = message.get("thread_ts") or container.get("thread_ts")
    if not thread_ts and not str(channel).startswith("D"):
        thread_ts = container.get("message_ts")
    reply_to = {"channel": channel, **({"thread_ts": thread_ts} if thread_ts else {})}
    messages = []
    for action in payload.get("actions") or []:
        choice = _choice(action) if isinstance(action, dict) else None
        if choice is None:
            continue
        option_id, title = choice
        action_ts = str(action.get("action_ts") or "")
        messages.append(
            InboundMessage(
                provider_message_id=f"{channel}:{action_ts or payload.get('trigger_id')}",
                account_id=team_id,
                user_id=str(user["id"]),
                kind="interactive",
                text=title,
                content={"type": "block_action", "id": option_id, "title": title},
                reply_to=reply_to,
                user_name=user.get("name") or user.get("username"),
                sent_at=_timestamp(action_ts),
                clicked=clicked,
            )
        )
    return Webhook(messages=messages, account_ids=accounts)


def _clicked(
    container: dict[str, Any], message: dict[str, Any], channel: str
) -> dict[str, Any] | None:
    """The clicked message as ``chat.update`` needs it; None for an ephemeral message, which
    only its ``response_url`` can change (Parley posts none)."""
    ts = container.get("message_ts") or message.get("ts")
    if container.get("type") != "message" or container.get("is_ephemeral") or not ts:
        return None
    blocks = [block for block in message.get("blocks") or [] if isinstance(block, dict)]
    return {
        "channel": channel,
        "ts": str(ts),
        "text": str(message.get("text") or ""),
        "blocks": blocks,
    }


def _choice(action: dict[str, Any]) -> tuple[str, str] | None:
    """(id, title) of the option chosen; None for a followed link (a button without value)."""
    option = action.get("selected_option")
    source = option if isinstance(option, dict) else action
    value = source.get("value")
    if not isinstance(value, str) or not value:
        return None
    label = source.get("text")
    title = label.get("text") if isinstance(label, dict) else None
    return value, str(title or value)


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]`` when it is a JSON object, else an empty one (tolerant of odd payloads)."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _bot_user_ids(envelope: dict[str, Any]) -> set[str]:
    return {
        str(a["user_id"])
        for a in envelope.get("authorizations") or []
        if isinstance(a, dict) and a.get("is_bot") and a.get("user_id")
    }


def _strip_bot_mention(text: str, bots: set[str]) -> str:
    """Drop the leading ``<@BOT>`` that addressed the mention to us (any leading mention when
    the event names no bot user)."""
    match = _LEADING_MENTION.match(text)
    if match and (not bots or match.group(1) in bots):
        return text[match.end() :]
    return text


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _timestamp(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _posted_ts(answer: dict[str, Any]) -> str:
    """The posted message's ``ts``: its id for threads, updates and our records."""
    ts = answer.get("ts")
    if isinstance(ts, str) and ts:
        return ts
    raise SendFailed("Slack chat.postMessage answered ok without a ts")
