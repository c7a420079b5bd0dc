"""A fake Microsoft Teams: the Bot Framework login service (OpenID metadata, signing keys, the
client-credentials token endpoint) and the Bot Connector, on one local HTTP server.

Point Parley at it with ``ProviderUrls(teams_openid_metadata=fake.openid_metadata_url,
teams_token_url=fake.token_url_template)``; activities built with ``fake.service_url`` (a path
under the fake, with its trailing slash) make Parley's replies land on the fake's connector.

    with FakeTeams() as fake:                       # app id/password: APP_ID, APP_PASSWORD
        activity = message_activity(APP_ID, "hi", CONV, "1", fake.service_url)
        body, headers = fake.signed_webhook(activity)  # exact bytes + Authorization header
        fake.mint_token(APP_ID, fake.service_url, exp_offset=-600)   # a token to reject
        fake.sent                                    # SentActivity records of connector posts
        fake.fail_with_throttle(retry_after=3)       # next connector post: 429 Throttled
        fake.fail_with_precondition_failed() / fail_with_server_error(502)
        fake.fail_with_conversation_not_found() / fail_with_blocked_by_user()
        fake.fail_send(status, code, message)        # any connector error
        fake.hang_send()                             # next connector post never answers
        fake.fail_token(401, "invalid_client")       # next token request fails
        fake.issued_tokens / fake.revoke_tokens()    # tokens handed out; revoked → connector 401
        fake.add_key()                               # rotate: sign with a new kid from now on
        fake.add_app(app_id, app_password)           # another bot the token endpoint accepts

An activity whose Adaptive Card the connector would refuse (tests/fakes/adaptive_cards.py) is
answered 400 ``BadArgument``.

The ``fail_*``/``hang_send`` faults hit only connector posts (and ``fail_token`` only token
requests), unlike the base ``fail_next``, which hits whatever request comes next.
"""

from __future__ import annotations

import functools
import itertools
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.fakes.adaptive_cards import card_problem
from tests.fakes.provider import HANG_LIMIT_SECONDS, ProviderFake, Recorded, Reply

APP_ID = "0fa4e000-0000-4000-8000-000000000001"
APP_PASSWORD = "FAKE~clientSecret~0123456789"
ISSUER = "https://api.botframework.com"
SCOPE = "https://api.botframework.com/.default"
USER_ID = "29:1FAKEuserIdAbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijk"
USER_AAD_ID = "0fa4e000-0000-4000-8000-0000000000bb"
TENANT_ID = "0fa4e000-0000-4000-8000-0000000000aa"
BOT_NAME = "Example Shop Bot"


@functools.cache
def _rsa_key(label: str) -> rsa.RSAPrivateKey:
    """Keys are slow to make, so the fixed ones are made once per test process."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class SentActivity:
    conversation_id: str
    reply_to_id: str | None  # the activity id in the URL, for replies
    activity_id: str  # the id the fake answered with
    authorization: str
    activity: dict[str, Any]


class FakeTeams(ProviderFake):
    def __init__(
        self, app_id: str = APP_ID, app_password: str = APP_PASSWORD, token_expires_in: int = 3599
    ) -> None:
        super().__init__()
        self.app_id = app_id
        self.apps = {app_id: app_password}  # every bot the token endpoint knows: id → password
        self.token_expires_in = token_expires_in
        self.sent: list[SentActivity] = []
        self.typing: list[SentActivity] = []  # typing activities, kept apart from messages
        self._keys: list[tuple[str, rsa.RSAPrivateKey]] = [("fake-kid-1", _rsa_key("primary"))]
        self._tokens: set[str] = set()
        self._send_faults: deque[Reply | None] = deque()
        self._token_faults: deque[Reply] = deque()
        self._ids = itertools.count(1750000100001)
        self._stopping = threading.Event()

    # -- URLs the runtime needs -------------------------------------------------------------

    @property
    def openid_metadata_url(self) -> str:
        return f"{self.base_url}/openid-metadata"

    @property
    def token_url_template(self) -> str:
        return f"{self.base_url}/{{tenant}}/oauth2/v2.0/token"

    @property
    def service_url(self) -> str:
        return f"{self.base_url}/amer/"

    # -- inbound: tokens the Bot Connector would send --------------------------------------

    @property
    def kid(self) -> str:
        """The key id new tokens are signed with."""
        return self._keys[-1][0]

    def add_key(self) -> str:
        """Publish a new signing key and sign with it from now on; its kid."""
        kid = f"fake-kid-{len(self._keys) + 1}"
        self._keys.append((kid, rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        return kid

    def mint_token(
        self,
        app_id: str,
        service_url: str,
        *,
        iss: str = ISSUER,
        aud: str | None = None,
        exp_offset: float = 3600,
        nbf_offset: float = -60,
        kid: str | None = None,
        sign_with_other_key: bool = False,
    ) -> str:
        """An RS256 Bot Connector JWT for ``app_id``; the keyword arguments spoil it."""
        now = time.time()
        claims = {
            "serviceurl": service_url,
            "nbf": int(now + nbf_offset),
            "exp": int(now + exp_offset),
            "iss": iss,
            "aud": aud if aud is not None else app_id,
        }
        key = _rsa_key("other") if sign_with_other_key else self._keys[-1][1]
        headers = {"kid": kid or self.kid, "x5t": kid or self.kid}
        return jwt.encode(claims, key, algorithm="RS256", headers=headers)

    def add_app(self, app_id: str, app_password: str) -> None:
        """Let another bot fetch tokens here (one fake can serve several Teams accounts)."""
        self.apps[app_id] = app_password

    def signed_webhook(self, activity: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The bytes and headers the Bot Connector would POST for ``activity``, addressed to
        the bot its ``recipient`` names."""
        app_id = str(activity["recipient"]["id"]).removeprefix("28:")
        token = self.mint_token(app_id, str(activity["serviceUrl"]))
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        return json.dumps(activity, ensure_ascii=False).encode(), headers

    # -- scripted faults ------------------------------------------------------------------

    def fail_send(
        self,
        status: int,
        code: str | None = None,
        message: str = "",
        retry_after: float | None = None,
        times: int = 1,
        body: Any = None,
    ) -> None:
        """The next ``times`` connector posts answer ``{"error": {code, message}}``, or ``body``."""
        if body is None and code is not None:
            body = {"error": {"code": code, "message": message}}
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        self._send_faults.extend(Reply(status, body, headers) for _ in range(times))

    def fail_with_throttle(self, retry_after: float | None = None, times: int = 1) -> None:
        self.fail_send(429, "Throttled", "Too many requests.", retry_after, times)

    def fail_with_precondition_failed(self, times: int = 1) -> None:
        self.fail_send(
            412, "PreconditionFailed", "Precondition failed, please try again.", None, times
        )

    def fail_with_server_error(self, status: int = 502, times: int = 1) -> None:
        self.fail_send(status, "ServiceError", "The service is unavailable.", None, times)

    def fail_with_conversation_not_found(self) -> None:
        self.fail_send(404, "ConversationNotFound", "Conversation not found.")

    def fail_with_blocked_by_user(self) -> None:
        self.fail_send(
            403, "ConversationBlockedByUser", "User blocked the conversation with the bot."
        )

    def hang_send(self, times: int = 1) -> None:
        """The next connector posts get no answer until the fake stops."""
        self._send_faults.extend(None for _ in range(times))

    def fail_token(self, status: int, error: str = "invalid_client", times: int = 1) -> None:
        body = {"error": error, "error_description": f"AADSTS000000: fake {error}."}
        self._token_faults.extend(Reply(status, body) for _ in range(times))

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused from now on (as if it had expired)."""
        self._tokens.clear()

    # -- what was asked -------------------------------------------------------------------

    @property
    def issued_tokens(self) -> frozenset[str]:
        """Access tokens the token endpoint handed out and the connector still accepts."""
        return frozenset(self._tokens)

    @property
    def token_requests(self) -> list[Recorded]:
        return self.requests_to("/oauth2/v2.0/token")

    @property
    def key_requests(self) -> list[Recorded]:
        return [r for r in list(self.requests) if r.path in ("/openid-metadata", "/keys")]

    # -- the wire ---------------------------------------------------------------------------

    def handle(self, request: Recorded) -> Reply:
        if request.method == "GET" and request.path == "/openid-metadata":
            return Reply(200, self._metadata())
        if request.method == "GET" and request.path == "/keys":
            return Reply(200, {"keys": [self._jwk(kid, key) for kid, key in self._keys]})
        if request.method == "POST" and request.path.endswith("/oauth2/v2.0/token"):
            return self._token(request)
        parts = request.path.split("/")  # "", "amer", "v3", "conversations", id, "activities"[, id]
        is_connector = request.method == "POST" and parts[1:4] == ["amer", "v3", "conversations"]
        if is_connector and len(parts) in (6, 7) and parts[5] == "activities":
            reply_to = unquote(parts[6]) if len(parts) == 7 else None
            return self._activity(request, unquote(parts[4]), reply_to)
        return Reply(404, {"error": {"code": "NotFound", "message": "No such resource."}})

    def _metadata(self) -> dict[str, Any]:
        return {
            "issuer": ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": f"{self.base_url}/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }

    @staticmethod
    def _jwk(kid: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        return {**public, "use": "sig", "kid": kid, "x5t": kid, "endorsements": ["msteams"]}

    def _token(self, request: Recorded) -> Reply:
        if self._token_faults:
            return self._token_faults.popleft()
        form = request.form()
        if form.get("grant_type") != "client_credentials" or form.get("scope") != SCOPE:
            return Reply(400, {"error": "invalid_request", "error_description": "AADSTS900144."})
        client_id = form.get("client_id", "")
        if client_id not in self.apps:
            return Reply(
                400, {"error": "unauthorized_client", "error_description": "AADSTS700016."}
            )
        if form.get("client_secret") != self.apps[client_id]:
            return Reply(401, {"error": "invalid_client", "error_description": "AADSTS7000215."})
        token = f"FAKE.teams-token.{secrets.token_urlsafe(16)}"
        self._tokens.add(token)
        expires = self.token_expires_in
        body = {"token_type": "Bearer", "expires_in": expires, "ext_expires_in": expires}
        return Reply(200, {**body, "access_token": token})

    def _activity(self, request: Recorded, conversation_id: str, reply_to: str | None) -> Reply:
        try:
            activity = request.json()
        except ValueError:
            activity = None
        kind = activity.get("type") if isinstance(activity, dict) else None
        # Scripted send faults are for messages: a typing activity shown first passes them by.
        if self._send_faults and kind != "typing":
            fault = self._send_faults.popleft()
            if fault is not None:
                return fault
            self._stopping.wait(HANG_LIMIT_SECONDS)
            return Reply(504, {"error": {"code": "ServiceError", "message": "Gateway timeout."}})
        authorization = request.headers.get("authorization", "")
        if authorization.removeprefix("Bearer ") not in self._tokens:
            return Reply(401, {"message": "Authorization has been denied for this request."})
        if not isinstance(activity, dict) or kind not in ("message", "typing"):
            return Reply(400, {"error": {"code": "BadArgument", "message": "Invalid activity."}})
        problem = card_problem(activity)
        if problem:
            return Reply(400, {"error": {"code": "BadArgument", "message": problem}})
        activity_id = str(next(self._ids))
        recorded = SentActivity(conversation_id, reply_to, activity_id, authorization, activity)
        (self.sent if kind == "message" else self.typing).append(recorded)
        return Reply(201, {"id": activity_id})

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()
        super().__exit__(exc_type, exc, traceback)


def _activity(
    kind: str,
    app_id: str,
    conversation_id: str,
    activity_id: str,
    service_url: str,
    *,
    user_id: str = USER_ID,
    user_name: str = "Test User",
    conversation_type: str = "personal",
    tenant_id: str = TENANT_ID,
) -> dict[str, Any]:
    return {
        "type": kind,
        "id": activity_id,
        "timestamp": "2025-06-15T15:06:41.101Z",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": user_id, "name": user_name, "aadObjectId": USER_AAD_ID},
        "conversation": {
            "conversationType": conversation_type,
            "tenantId": tenant_id,
            "id": conversation_id,
        },
        "recipient": {"id": f"28:{app_id}", "name": BOT_NAME},
        "channelData": {"tenant": {"id": tenant_id}},
    }


def message_activity(
    app_id: str,
    text: str,
    conversation_id: str,
    activity_id: str,
    service_url: str,
    **fields: Any,
) -> dict[str, Any]:
    """A user's text message to the bot; ``fields`` as for the other builders (user_id,
    user_name, conversation_type, tenant_id)."""
    activity = _activity("message", app_id, conversation_id, activity_id, service_url, **fields)
    return {**activity, "text": text, "textFormat": "plain", "attachments": []}


def read_receipt(
    app_id: str,
    last_read_message_id: str,
    conversation_id: str,
    service_url: str,
    activity_id: str = "f:FAKEreadReceipt",
    **fields: Any,
) -> dict[str, Any]:
    """The event Teams sends when the user has read the bot's messages up to one id."""
    activity = _activity("event", app_id, conversation_id, activity_id, service_url, **fields)
    value = {"lastReadMessageId": last_read_message_id}
    return {**activity, "name": "application/vnd.microsoft.readReceipt", "value": value}


def card_submit(
    app_id: str,
    values: dict[str, Any],
    conversation_id: str,
    activity_id: str,
    service_url: str,
    reply_to_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An Adaptive Card ``Action.Submit``: a message with no text and the card's data."""
    activity = _activity("message", app_id, conversation_id, activity_id, service_url, **fields)
    submit = {**activity, "textFormat": "plain", "attachments": [], "value": values}
    return {**submit, "replyToId": reply_to_id} if reply_to_id else submit


def card_execute(
    app_id: str,
    verb: str,
    data: dict[str, Any],
    conversation_id: str,
    activity_id: str,
    service_url: str,
    reply_to_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An Adaptive Card ``Action.Execute`` (Universal Actions): an ``invoke`` activity named
    ``adaptiveCard/action`` whose ``value.action`` carries the verb and the card's data;
    ``reply_to_id`` is the card's message."""
    activity = _activity("invoke", app_id, conversation_id, activity_id, service_url, **fields)
    action = {"type": "Action.Execute", "id": f"action-{verb}", "verb": verb, "data": data}
    invoke = {
        **activity,
        "name": "adaptiveCard/action",
        "value": {"action": action, "trigger": "manual"},
    }
    return {**invoke, "replyToId": reply_to_id} if reply_to_id else invoke


def conversation_update(
    app_id: str,
    conversation_id: str,
    service_url: str,
    activity_id: str,
    members_added: list[str] | None = None,
    members_removed: list[str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Members joined or left a conversation; the bot's own id (``28:<app id>``) among them is
    the bot installed or removed."""
    activity = _activity(
        "conversationUpdate", app_id, conversation_id, activity_id, service_url, **fields
    )
    if members_added is not None:
        activity["membersAdded"] = [{"id": member} for member in members_added]
    if members_removed is not None:
        activity["membersRemoved"] = [{"id": member} for member in members_removed]
    return activity


def installation_update(
    app_id: str,
    action: str,
    conversation_id: str,
    service_url: str,
    activity_id: str,
    **fields: Any,
) -> dict[str, Any]:
    """The app installed (``action`` ``add``) or removed (``remove``) in a conversation."""
    activity = _activity(
        "installationUpdate", app_id, conversation_id, activity_id, service_url, **fields
    )
    return {**activity, "action": action}


def meeting_event(
    app_id: str,
    started: bool,
    meeting_id: str,
    title: str,
    conversation_id: str,
    service_url: str,
    activity_id: str,
    at: str = "2025-06-15T16:00:00.000Z",
) -> dict[str, Any]:
    """A meeting the bot's chat belongs to started or ended (Pascal-case details, as Teams
    sends them)."""
    activity = _activity(
        "event", app_id, conversation_id, activity_id, service_url, conversation_type="groupChat"
    )
    name = "application/vnd.microsoft.meeting" + ("Start" if started else "End")
    value = {
        "Id": meeting_id,
        "MeetingType": "Scheduled",
        "JoinUrl": "https://teams.microsoft.com/l/meetup-join/FAKE",
        "Title": title,
        "StartTime" if started else "EndTime": at,
    }
    channel_data = {**activity["channelData"], "meeting": {"id": meeting_id}}
    return {**activity, "name": name, "value": value, "channelData": channel_data}
