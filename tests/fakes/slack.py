"""A fake Slack Web API (``chat.postMessage``, ``chat.update``, ``auth.test``) plus builders of
signed Slack webhooks, for tests.

Server (``base_url`` stands for ``https://slack.com/api``; set ``ProviderUrls.slack_api`` to it)::

    with FakeSlack(bot_token="xoxb-FAKE-1") as slack:
        ...                      # Parley posts to f"{slack.base_url}/chat.postMessage"
        slack.posted             # the JSON bodies posted, in order
        slack.fail_with_rate_limit(retry_after=3)   # HTTP 429 + Retry-After, error ratelimited
        slack.fail_with_error("channel_not_found")  # HTTP 200 {"ok": false, "error": ...}
        slack.fail_with_server_error(503)           # HTTP 5xx
        slack.hang_next()                           # no answer: the client must time out

A wrong bearer token is answered ``{"ok": false, "error": "invalid_auth"}`` (no header:
``not_authed``); blocks Slack would not post are ``invalid_blocks`` with Slack's ``errors`` list
(tests/fakes/slack_blocks.py); a success echoes the channel and the message with a fresh,
increasing ``ts``.

``chat.update`` changes a message the fake posted (``slack.messages[(channel, ts)]``) and answers
as Slack does (``ok``, ``channel``, ``ts``, ``text``, ``message``); a ts it never posted is
``message_not_found``, and a message someone else wrote (``slack.add_user_message(channel, ts)``)
is ``cant_update_message``. ``slack.updated`` holds the bodies of every ``chat.update``.

``auth.test`` answers the token's workspace (``team_id``, ``user_id``, ``bot_id``...): the fake's
own token is ``team_id``'s, ``slack.add_team(team_id, token)`` makes a token another team's (a
bot token is one workspace's, as in Slack). ``slack.answer_team_as(other_id)`` makes the next
``auth.test`` answer another team id. ``chat.postMessage`` takes any token the fake knows.

Webhooks (module functions, no server needed)::

    body, headers = signed_webhook(event_message_im(...), SIGNING_SECRET)
    body, headers = signed_webhook(block_actions(...), SIGNING_SECRET)  # form-encoded payload=
    headers = signed_request(raw, SIGNING_SECRET, retry_num=1)  # a redelivery, same body

``headers`` are exactly what Slack sends: Content-Type, X-Slack-Request-Timestamp,
X-Slack-Signature and, for redeliveries, X-Slack-Retry-Num / X-Slack-Retry-Reason.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections import deque
from typing import Any
from urllib.parse import urlencode

from tests.fakes.provider import ProviderFake, Recorded, Reply
from tests.fakes.slack_blocks import block_errors

BOT_TOKEN = "xoxb-FAKE-0000-bot-token"
SIGNING_SECRET = "FAKEsigningSECRET0000000000000000"
TEAM_ID = "T0FAKETEAM1"
BOT_USER_ID = "U0FAKEBOT01"
BOT_ID = "B0FAKEBOT01"
APP_ID = "A0FAKEAPP01"
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


class FakeSlack(ProviderFake):
    def __init__(
        self, bot_token: str = BOT_TOKEN, team_id: str = TEAM_ID, bot_user_id: str = BOT_USER_ID
    ) -> None:
        super().__init__()
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self._ticks = itertools.count(1)
        self._tick_lock = threading.Lock()
        self.teams: dict[str, str] = {}  # other bot tokens → their workspace
        self._answer_as: deque[str] = deque()
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # the bot's, as they stand
        self._others: set[tuple[str, str]] = set()  # messages people wrote

    def add_team(self, team_id: str, bot_token: str | None = None) -> None:
        """From now on ``bot_token`` (the fake's own by default) is this workspace's."""
        self.teams[bot_token or self.bot_token] = team_id

    def answer_team_as(self, team_id: str) -> None:
        """The next ``auth.test`` answers this team id, whatever team the token is."""
        self._answer_as.append(team_id)

    @property
    def posted(self) -> list[Any]:
        return [request.json() for request in self.requests_to("/chat.postMessage")]

    @property
    def updated(self) -> list[Any]:
        return [request.json() for request in self.requests_to("/chat.update")]

    def add_user_message(self, channel: str, ts: str) -> None:
        """A message a person wrote in ``channel``: the bot may not update it."""
        self._others.add((channel, ts))

    def fail_with_rate_limit(self, retry_after: float = 3, times: int = 1) -> None:
        self.fail_next(429, {"ok": False, "error": "ratelimited"}, retry_after, times)

    def fail_with_error(self, error: str = "channel_not_found", times: int = 1) -> None:
        self.fail_next(200, {"ok": False, "error": error}, times=times)

    def fail_with_server_error(self, status: int = 500, times: int = 1) -> None:
        self.fail_next(status, b"<html>Internal Server Error</html>", times=times)

    def handle(self, request: Recorded) -> Reply:
        method = request.path.rsplit("/", 1)[-1]
        if method not in ("chat.postMessage", "chat.update", "auth.test") or (
            method.startswith("chat.") and request.method != "POST"
        ):
            return Reply(404, {"ok": False, "error": "unknown_method"})
        auth = request.headers.get("authorization", "")
        if not auth:
            return Reply(200, {"ok": False, "error": "not_authed"})
        tokens = {self.bot_token: self.team_id, **self.teams}
        team = next(
            (t for token, t in tokens.items() if hmac.compare_digest(auth, f"Bearer {token}")),
            None,
        )
        if team is None:
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        if method == "auth.test":
            return Reply(200, self._auth_test(team))
        body = _request_body(request)
        if not body.get("channel"):
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        if not body.get("text") and not body.get("blocks"):
            return Reply(200, {"ok": False, "error": "no_text"})
        errors = block_errors(body["blocks"]) if "blocks" in body else []
        if errors:
            metadata = {"messages": [f"[ERROR] {error}" for error in errors]}
            refusal = {"ok": False, "error": "invalid_blocks", "errors": errors}
            return Reply(200, refusal | {"response_metadata": metadata})
        if method == "chat.update":
            return Reply(200, self._update(body))
        ts = self._next_ts()
        message: dict[str, Any] = {
            "bot_id": BOT_ID,
            "type": "message",
            "text": body.get("text", ""),
            "user": self.bot_user_id,
            "ts": ts,
            "app_id": APP_ID,
            "team": team,
            **{key: body[key] for key in ("blocks", "thread_ts") if key in body},
        }
        with self._tick_lock:
            self.messages[(str(body["channel"]), ts)] = message
        return Reply(200, {"ok": True, "channel": body["channel"], "ts": ts, "message": message})

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        key = (str(body["channel"]), str(body.get("ts") or ""))
        if key in self._others:
            return {"ok": False, "error": "cant_update_message"}
        with self._tick_lock:
            message = self.messages.get(key)
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message = {**message, "text": body.get("text", message["text"])}
            if "blocks" in body:
                message["blocks"] = body["blocks"]
            self.messages[key] = message
        return {
            "ok": True,
            "channel": key[0],
            "ts": key[1],
            "text": message["text"],
            "message": message,
        }

    def _auth_test(self, team: str) -> dict[str, Any]:
        team = self._answer_as.popleft() if self._answer_as else team
        return {
            "ok": True,
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "parleybot",
            "team_id": team,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _next_ts(self) -> str:
        with self._tick_lock:
            micros = next(self._ticks) * 100
        return f"{1_700_000_000 + micros // 1_000_000}.{micros % 1_000_000:06d}"


def _request_body(request: Recorded) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith(FORM_TYPE):
        return dict(request.form())
    try:
        body = request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def signed_request(
    body: bytes,
    signing_secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
    content_type: str = JSON_TYPE,
) -> dict[str, str]:
    """The headers Slack sends with ``body``, signed now (or at ``timestamp``)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(signing_secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    return headers


def signed_webhook(
    payload: dict[str, Any],
    signing_secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    retry_num: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The exact bytes and headers of a delivery: events as JSON, interactivity payloads
    (``block_actions``) as the form field ``payload=<json>``."""
    if payload.get("type") == "block_actions":
        body, content_type = _form(payload), FORM_TYPE
    else:
        body, content_type = json.dumps(payload, ensure_ascii=False).encode(), JSON_TYPE
    headers = signed_request(body, signing_secret, timestamp, retry_num, content_type=content_type)
    return body, headers


def url_verification(challenge: str) -> dict[str, Any]:
    return {"token": "FAKEverificationTOKEN000", "challenge": challenge, "type": "url_verification"}


def event_message_im(
    team_id: str, channel: str, user: str, text: str, ts: str, event_id: str
) -> dict[str, Any]:
    """A user's direct message to the bot (``message.im``)."""
    event = {"type": "message", "channel_type": "im", "event_ts": ts}
    return _envelope(team_id, event_id, {**event, **_user_message(channel, user, text, ts)})


def event_app_mention(
    team_id: str,
    channel: str,
    user: str,
    text: str,
    ts: str,
    event_id: str,
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """A channel message mentioning the bot; ``text`` should start with ``<@BOT_USER_ID>``."""
    event = {
        "type": "app_mention",
        "event_ts": ts,
        **({"thread_ts": thread_ts} if thread_ts else {}),
    }
    return _envelope(team_id, event_id, {**event, **_user_message(channel, user, text, ts)})


def block_actions(
    team_id: str,
    channel: str,
    user: str,
    value: str,
    title: str,
    message_ts: str = "1700000000.000100",
    action_ts: str | None = None,
    thread_ts: str | None = None,
    message_text: str = "",
    blocks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A click on a button (``value``, label ``title``) of the bot message ``message_ts``,
    which reads ``message_text`` and holds ``blocks`` (Slack sends the message as it stands)."""
    message = {
        "type": "message",
        "subtype": "bot_message",
        "text": message_text,
        "ts": message_ts,
        "bot_id": BOT_ID,
        **({"thread_ts": thread_ts} if thread_ts else {}),
        **({"blocks": blocks} if blocks is not None else {}),
    }
    action = {
        "action_id": "option_1",
        "block_id": "actions",
        "text": {"type": "plain_text", "text": title, "emoji": True},
        "value": value,
        "type": "button",
        "action_ts": action_ts or f"{time.time():.6f}",
    }
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "test.user", "name": "test.user", "team_id": team_id},
        "api_app_id": APP_ID,
        "token": "FAKEverificationTOKEN000",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"{message_ts}.{uuid.uuid4().hex}",
        "team": {"id": team_id, "domain": "fake-workspace"},
        "channel": {"id": channel, "name": "directmessage" if channel[:1] == "D" else "support"},
        "message": message,
        "state": {"values": {}},
        "response_url": f"https://hooks.slack.com/actions/{team_id}/0000000000001/FAKEresponse",
        "actions": [action],
    }


def block_actions_form(**kwargs: Any) -> bytes:
    """``block_actions(**kwargs)`` encoded as Slack posts it: ``payload=<url-encoded JSON>``."""
    return _form(block_actions(**kwargs))


def _form(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()


def _user_message(channel: str, user: str, text: str, ts: str) -> dict[str, Any]:
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return {
        "client_msg_id": str(uuid.uuid4()),
        "text": text,
        "user": user,
        "ts": ts,
        "blocks": [{"type": "rich_text", "block_id": "Fk3a", "elements": [section]}],
        "channel": channel,
    }


def _envelope(team_id: str, event_id: str, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "token": "FAKEverificationTOKEN000",
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": {**event, "team": team_id},
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(float(event["ts"])),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-FAKEeyJldCI6Im1lc3NhZ2UifQ",
    }
