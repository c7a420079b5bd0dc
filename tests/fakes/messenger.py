"""A fake Messenger Send API and builders of signed Messenger webhooks, for tests.

The fake (``base_url`` stands for ``https://graph.facebook.com/v23.0``):

    with FakeMessenger(page_token="FAKE_PAGE_TOKEN") as fake:
        urls = ProviderUrls(messenger_api=fake.base_url)
        ...
        fake.sent()                      # the messages POSTed to /me/messages, in order
        fake.sender_actions()            # the sender actions (typing_on ...) POSTed there
        fake.fail_with_rate_limit(retry_after=3)       # Graph 613, HTTP 400 + Retry-After
        fake.fail_with_outside_window()                # Graph 10 / 2018278
        fake.fail_with_user_unavailable()              # Graph 551 / 1545041
        fake.fail_with_no_matching_user()              # Graph 100 / 2018001
        fake.fail_with_permanent_error(code, subcode, message)
        fake.fail_with_server_error()                  # HTTP 500, Graph 2 (transient)
        fake.hang_next()                               # no answer: the client must time out
        fake.fail_next(500, indicators=True)           # the next sender action fails

``POST /me/messages`` takes the page token as ``Authorization: Bearer`` or ``access_token``
query parameter (Graph accepts both); a wrong one gets Graph's 190 OAuthException (HTTP 400).
It answers ``{"recipient_id", "message_id": "m_..."}`` and rejects, as Graph would with code
100, a body without a recipient, text over 2000 characters or more than 13 quick replies.

``GET /me`` with a page token answers that token's page, ``{"name", "id"}`` (only ``id`` and the
asked ``fields``): the fake's own token is ``PAGE_ID``'s, ``fake.add_page(page_id, token)`` makes
a token another page's (a token is one page's, as in Graph). An unknown token gets code 190.
``fake.answer_page_as(other_id)`` makes the next ``/me`` answer another page's id. The Send API
takes any page token the fake knows.

``/me/messenger_profile`` is the Messenger Profile API: ``POST`` sets ``get_started``,
``greeting``, ``persistent_menu`` (and the other properties it knows) for the token's page and
answers ``{"result": "success"}``; ``GET ?fields=a,b`` reads them back as ``{"data": [{...}]}``;
``DELETE`` with ``{"fields": [...]}`` clears them. Shapes Graph refuses are refused with its
error object (``message``, ``type``, ``code`` 100, ``fbtrace_id``): titles over 30 characters,
more than 20 menu items, a greeting over 160, a menu or greeting without a ``default`` locale,
a menu while the page has no Get Started button. ``fake.profiles[page_id]`` is what each page
has now.

Inbound webhooks: ``inbound_text``, ``postback``, ``delivery`` and ``read`` build realistic
``object: page`` payloads; ``signed_webhook(payload, app_secret)`` returns the exact bytes Meta
would POST (ASCII JSON with ``\\uXXXX`` and ``\\/`` escapes) and lower-case headers with
``x-hub-signature-256``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections import deque
from typing import Any

from tests.fakes.provider import ProviderFake, Recorded, Reply

PAGE_TOKEN = "FAKE_PAGE_TOKEN_messenger_0001"
PAGE_ID = "100000000000001"
TEXT_LIMIT = 2000
QUICK_REPLY_LIMIT = 13


def graph_error(code: int, message: str, subcode: int | None = None, **extra: Any) -> Any:
    """A Graph API error body."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    error["fbtrace_id"] = "AFAKEtrace" + secrets.token_hex(6)
    return {"error": error}


class FakeMessenger(ProviderFake):
    def __init__(self, page_token: str = PAGE_TOKEN) -> None:
        super().__init__()
        self.page_token = page_token
        self._ids = itertools.count(1)
        self.pages: dict[str, str] = {}  # other page tokens → their page
        self._answer_as: deque[str] = deque()
        self.profiles: dict[str, dict[str, Any]] = {}  # page id → its Messenger profile

    def add_page(self, page_id: str, page_token: str | None = None) -> None:
        """From now on ``page_token`` (the fake's own by default) is this page's token."""
        self.pages[page_token or self.page_token] = page_id

    def answer_page_as(self, page_id: str) -> None:
        """The next ``GET /me`` answers this page id, whatever page the token is."""
        self._answer_as.append(page_id)

    def is_indicator(self, request: Recorded) -> bool:
        return b'"sender_action"' in request.raw

    def sent(self) -> list[Any]:
        """The messages received on ``/me/messages``, in order (faulted ones included)."""
        return [body for body in self._posted() if "sender_action" not in body]

    def sender_actions(self) -> list[Any]:
        """The sender actions (``typing_on``, ``mark_seen`` ...) received on ``/me/messages``."""
        return [body for body in self._posted() if "sender_action" in body]

    def _posted(self) -> list[Any]:
        return [request.json() for request in self.requests_to("/me/messages")]

    def handle(self, request: Recorded) -> Reply:
        if request.method == "GET" and request.path == "/me":
            return self._me(request)
        if request.path == "/me/messenger_profile":
            return self._profile(request)
        if request.method != "POST" or request.path != "/me/messages":
            return Reply(400, graph_error(2500, "Unknown path components"))
        if self._page_of(self._token(request)) is None:
            invalid = "Invalid OAuth access token - Cannot parse access token"
            return Reply(400, graph_error(190, invalid))
        try:
            body = request.json()
        except ValueError:
            return Reply(400, graph_error(100, "(#100) Invalid JSON"))
        problem = _problem(body)
        if problem:
            return Reply(400, graph_error(100, f"(#100) {problem}"))
        psid = body["recipient"]["id"]
        if "sender_action" in body:
            return Reply(200, {"recipient_id": psid})
        return Reply(200, {"recipient_id": psid, "message_id": f"m_FAKE{next(self._ids):08d}"})

    def _me(self, request: Recorded) -> Reply:
        """Graph's ``GET /me``: for a page token, the page it belongs to."""
        page_id = self._page_of(self._token(request))
        if page_id is None:
            invalid = "Invalid OAuth access token - Cannot parse access token"
            return Reply(400, graph_error(190, invalid))
        page = {
            "name": "Fake Page",
            "id": self._answer_as.popleft() if self._answer_as else page_id,
        }
        fields = request.query.get("fields")
        if fields:
            wanted = {"id", *fields.split(",")}
            page = {key: value for key, value in page.items() if key in wanted}
        return Reply(200, page)

    def _profile(self, request: Recorded) -> Reply:
        """The Messenger Profile API for the token's page."""
        page_id = self._page_of(self._token(request))
        if page_id is None:
            invalid = "Invalid OAuth access token - Cannot parse access token"
            return Reply(400, graph_error(190, invalid))
        profile = self.profiles.setdefault(page_id, {})
        if request.method == "GET":
            fields = [f for f in request.query.get("fields", "").split(",") if f]
            if not fields:
                return Reply(400, graph_error(100, "(#100) The parameter fields is required"))
            found = {name: profile[name] for name in fields if name in profile}
            return Reply(200, {"data": [found] if found else []})
        try:
            body = request.json()
        except ValueError:
            return Reply(400, graph_error(100, "(#100) Invalid JSON"))
        if request.method == "DELETE":
            fields = body.get("fields") if isinstance(body, dict) else None
            if not isinstance(fields, list) or not fields:
                return Reply(400, graph_error(100, "(#100) The parameter fields is required"))
            for name in fields:
                profile.pop(name, None)
            return Reply(200, {"result": "success"})
        if request.method != "POST":
            return Reply(400, graph_error(2500, "Unknown path components"))
        problem = _profile_problem(body, profile)
        if problem:
            return Reply(400, graph_error(100, f"(#100) {problem}"))
        profile.update(body)
        return Reply(200, {"result": "success"})

    def fail_with_rate_limit(
        self, retry_after: float | None = None, status: int = 400, times: int = 1
    ) -> None:
        body = graph_error(613, "(#613) Calls to this api have exceeded the rate limit.")
        self.fail_next(status, body, retry_after, times)

    def fail_with_outside_window(self) -> None:
        message = "(#10) This message is sent outside of allowed window."
        self.fail_with_permanent_error(10, 2018278, message)

    def fail_with_user_unavailable(self) -> None:
        self.fail_with_permanent_error(
            551, 1545041, "(#551) This person isn't available right now."
        )

    def fail_with_no_matching_user(self) -> None:
        self.fail_with_permanent_error(100, 2018001, "(#100) No matching user found")

    def fail_with_permanent_error(
        self, code: int, subcode: int | None, message: str, status: int = 400
    ) -> None:
        self.fail_next(status, graph_error(code, message, subcode))

    def fail_with_server_error(self, status: int = 500) -> None:
        message = "An unexpected error has occurred. Please retry your request later."
        self.fail_next(status, graph_error(2, message, is_transient=True))

    def _page_of(self, token: str) -> str | None:
        return self.pages.get(token) or (PAGE_ID if token == self.page_token else None)

    def _token(self, request: Recorded) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return token
        return request.query.get("access_token", "")


# The Send API's ``messaging_type`` values, and the tags a ``MESSAGE_TAG`` message may carry.
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
MESSAGE_TAGS = ("ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "HUMAN_AGENT")


def _problem(body: Any) -> str:
    """What Graph would reject in a Send API body, or ""."""
    if not isinstance(body, dict) or not isinstance(body.get("recipient"), dict):
        return "The parameter recipient is required"
    if not body["recipient"].get("id"):
        return "The parameter recipient is required"
    if "sender_action" in body:
        return ""
    kind = body.get("messaging_type", "RESPONSE")
    if kind not in MESSAGING_TYPES:
        return f"Param messaging_type must be one of {{{', '.join(MESSAGING_TYPES)}}}"
    if kind == "MESSAGE_TAG" and body.get("tag") not in MESSAGE_TAGS:
        return "Param tag must be one of {" + ", ".join(MESSAGE_TAGS) + "}"
    message = body.get("message")
    if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
        return "The parameter message is required"
    if len(message.get("text") or "") > TEXT_LIMIT:
        return f"Length of param message[text] must be less than or equal to {TEXT_LIMIT}"
    if len(message.get("quick_replies") or []) > QUICK_REPLY_LIMIT:
        return f"param message[quick_replies] must have at most {QUICK_REPLY_LIMIT} elements"
    attachment = message.get("attachment") or {}
    if attachment.get("type") == "template":
        return _template_problem(attachment.get("payload") or {})
    return ""


def _template_problem(payload: dict[str, Any]) -> str:
    """What Graph refuses in a button or generic template (limits from Meta's reference)."""
    kind = payload.get("template_type")
    if kind == "button":
        if not 0 < len(payload.get("text") or "") <= 640:
            return "param text must be between 1 and 640 characters"
        return _buttons_problem(payload.get("buttons"), required=True)
    if kind == "generic":
        elements = payload.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            return "param elements must have between 1 and 10 elements"
        for element in elements:
            if not 0 < len(element.get("title") or "") <= 80:
                return "param elements[title] must be between 1 and 80 characters"
            if len(element.get("subtitle") or "") > 80:
                return "param elements[subtitle] must be at most 80 characters"
            if not any(element.get(k) for k in ("subtitle", "image_url", "buttons")):
                return "At least one property must be set in addition to title"
            problem = _buttons_problem(element.get("buttons"), required=False)
            if problem:
                return problem
        return ""
    return f"Invalid template type {kind}"


def _buttons_problem(buttons: Any, required: bool) -> str:
    if buttons is None and not required:
        return ""
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return "param buttons must have between 1 and 3 elements"
    for button in buttons:
        kind = button.get("type")
        if not 0 < len(button.get("title") or "") <= 20:
            return "param buttons[title] must be between 1 and 20 characters"
        if kind == "web_url" and not str(button.get("url") or "").startswith("http"):
            return "param buttons[url] must be a valid URL"
        if kind == "postback" and not 0 < len(button.get("payload") or "") <= 1000:
            return "param buttons[payload] must be between 1 and 1000 characters"
        if kind == "phone_number" and not str(button.get("payload") or "").startswith("+"):
            return "param buttons[payload] must be a phone number with a + and a country code"
        if kind not in ("web_url", "postback", "phone_number"):
            return f"Invalid button type {kind}"
    return ""


PROFILE_PROPERTIES = frozenset(
    {"get_started", "greeting", "persistent_menu", "ice_breakers", "whitelisted_domains"}
)


def _profile_problem(body: Any, current: dict[str, Any]) -> str:
    """What Graph would refuse in a Messenger Profile body, or ""."""
    if not isinstance(body, dict) or not body:
        return "Requires one of the params: " + ", ".join(sorted(PROFILE_PROPERTIES))
    unknown = set(body) - PROFILE_PROPERTIES
    if unknown:
        return f"Param {sorted(unknown)[0]} is not a valid Messenger profile property"
    started = body.get("get_started", current.get("get_started"))
    if "get_started" in body and not (
        isinstance(started, dict) and isinstance(started.get("payload"), str) and started["payload"]
    ):
        return "param get_started[payload] must be a non-empty string"
    if "get_started" in body and len(started["payload"]) > 1000:
        return "param get_started[payload] must be at most 1000 characters"
    for greeting in _locales(body, "greeting"):
        if not isinstance(greeting.get("text"), str) or len(greeting["text"]) > 160:
            return "param greeting[text] must be a string of at most 160 characters"
    if "greeting" in body and "default" not in [
        g.get("locale") for g in _locales(body, "greeting")
    ]:
        return "param greeting must have a default locale"
    if "persistent_menu" in body:
        if not started:
            return "You must set a Get Started button if you also wish to use persistent menu."
        menus = _locales(body, "persistent_menu")
        if "default" not in [menu.get("locale") for menu in menus]:
            return "param persistent_menu must have a default locale"
        for menu in menus:
            items = menu.get("call_to_actions")
            if not isinstance(items, list) or not 1 <= len(items) <= 20:
                return "param persistent_menu[call_to_actions] must have 1 to 20 elements"
            for item in items:
                problem = _menu_item_problem(item)
                if problem:
                    return problem
    return ""


def _locales(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    items = body.get(name)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _menu_item_problem(item: Any) -> str:
    if not isinstance(item, dict) or item.get("type") not in ("postback", "web_url"):
        return "param call_to_actions[type] must be one of {postback, web_url}"
    if not isinstance(item.get("title"), str) or not 1 <= len(item["title"]) <= 30:
        return "param call_to_actions[title] must be at most 30 characters"
    if item["type"] == "postback" and not item.get("payload"):
        return "param call_to_actions[payload] is required for a postback"
    if item["type"] == "web_url" and not str(item.get("url", "")).startswith(
        ("https://", "http://")
    ):
        return "param call_to_actions[url] must be a valid URL"
    return ""


def signed_webhook(payload: dict[str, Any], app_secret: str) -> tuple[bytes, dict[str, str]]:
    """The bytes and headers Meta would POST: ASCII-escaped JSON, signed with the app secret."""
    raw = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")
    data = raw.encode()
    signature = hmac.new(app_secret.encode(), data, hashlib.sha256).hexdigest()
    return data, {"content-type": "application/json", "x-hub-signature-256": f"sha256={signature}"}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _page(page_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": page_id, "time": _now_ms(), "messaging": events}]}


def _event(page_id: str, psid: str, **fields: Any) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": _now_ms(), **fields}


def inbound_text(page_id: str, psid: str, text: str, mid: str | None = None) -> dict[str, Any]:
    """A user's text message; ``mid`` defaults to a fresh one (reuse it to model a redelivery)."""
    mid = mid or "m_FAKE" + secrets.token_urlsafe(16)
    return _page(page_id, [_event(page_id, psid, message={"mid": mid, "text": text})])


def delivery(
    page_id: str, psid: str, watermark_ms: int, mids: list[str] | None = None
) -> dict[str, Any]:
    """Messenger's word that everything sent to ``psid`` before ``watermark_ms`` arrived."""
    receipt: dict[str, Any] = {"watermark": watermark_ms}
    if mids:
        receipt = {"mids": list(mids), **receipt}
    return _page(page_id, [_event(page_id, psid, delivery=receipt)])


def read(page_id: str, psid: str, watermark_ms: int) -> dict[str, Any]:
    """Messenger's word that ``psid`` has read everything sent before ``watermark_ms``."""
    return _page(page_id, [_event(page_id, psid, read={"watermark": watermark_ms})])


def postback(
    page_id: str, psid: str, payload: str, title: str, mid: str | None = None
) -> dict[str, Any]:
    """A tap on a postback button: a persistent-menu item, Get Started, a template's button."""
    mid = mid or "m_FAKEpostback" + secrets.token_urlsafe(12)
    event = {"title": title, "payload": payload, "mid": mid}
    return _page(page_id, [_event(page_id, psid, postback=event)])
