"""A fake WhatsApp Business Cloud API (Graph ``/{phone_number_id}/messages``) and builders for
the webhooks Meta would send, so tests can drive a WhatsApp conversation end to end.

    with FakeWhatsApp(access_token="FAKE_token") as fake:
        urls = ProviderUrls(whatsapp_api=fake.base_url)  # stands for .../v23.0
        ...send...
        fake.sent[-1].body["text"]["body"]       # what was accepted, with its wamid
        fake.fail_with_rate_limit(retry_after=3)  # Graph 130429, HTTP 400, Retry-After: 3
        fake.fail_with_rate_limit(code=131056, status=429)
        fake.fail_with_server_error()             # HTTP 500, Graph 131000
        fake.fail_with_permanent_error(131047)    # HTTP 400, Graph error with that code
        fake.hang_next()                          # no answer: the client must time out
        fake.read_marks[-1]                       # a read mark (with typing_indicator), as sent

    raw, headers = signed_webhook(inbound_text("Hi", phone_number_id="200000000000001"), secret)
    raw, headers = signed_webhook(status_callback(wamid, "read", "200000000000001"), secret)

A read mark (``{"messaging_product", "status": "read", "message_id", "typing_indicator"?}``,
the way WhatsApp shows a typing indicator) is answered ``{"success": true}`` and kept in
``read_marks``, never in ``sent``; faults scripted for sends pass it by
(``fake.fail_next(500, indicators=True)`` fails the next one).

Graph's phone number node, ``GET /{phone_number_id}``, answers ``{"id", "display_phone_number",
"verified_name", ...}`` (only ``id`` and the asked ``fields``) to a token that may read the number:
the fake's own token reads ``DEFAULT_PHONE_NUMBER_ID``, ``fake.add_number(id, token)`` lets a
token read another one. Any other known token gets Graph's HTTP 400, code 100 / subcode 33 (no
such object or no permission); an unknown one HTTP 401, code 190.
``fake.answer_number_as(other_id)`` makes the next look-up answer another number's id.

Media a user sent: ``media_id = fake.add_media(data, "image/jpeg")`` keeps a file; Graph's
``GET /{media-id}`` answers ``{"messaging_product", "url", "mime_type", "sha256", "file_size",
"id"}`` to the fake's token, and the ``url`` (on the fake, ``/media-download/{id}``) gives the
bytes to the same bearer token; ``inbound_media("image", media_id, "image/jpeg")`` is the webhook.

A wrong or missing bearer token is answered like Graph does (HTTP 401, code 190); a body that
breaks a WhatsApp limit the adapter must respect (text 4096, caption 1024, 1-3 reply buttons of
20 characters, a list of 1-10 rows of 24 under a button label of 20, a ``cta_url`` without its
one ``url`` or ``display_text``, a location without coordinates, a document without a link) is
answered HTTP 400, code 100. Templates are checked against ``fake.templates`` (name → a
``KnownTemplate``; ``order_shipped_v1`` in en_US, the sample's, by default): an unknown name or
language is Graph's 132001, a component whose parameter count differs is 132000.

The WABA's template list, ``GET /{waba-id}/message_templates`` (``fields``, ``limit``, ``after``),
answers ``{"data": [...], "paging": {"cursors": {"before", "after"}, "next"?}}`` to the fake's
token, pages of ``limit`` (25 by default), each template as Graph describes it (``name``,
``language``, ``status``, ``category``, ``components``, ``id``): ``fake.definitions``, the
sample's by default under ``DEFAULT_WABA_ID``. ``fake.add_template(name, components,
status="PENDING")`` lists another; only an ``APPROVED`` one is also accepted in sends. Webhook
bodies are signed the way Meta sends them: compact JSON with non-ASCII escaped as ``\\uXXXX``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from tests.fakes.provider import ProviderFake, Recorded, Reply

DEFAULT_ACCESS_TOKEN = "FAKE_whatsapp_access_token"
DEFAULT_PHONE_NUMBER_ID = "200000000000001"
DEFAULT_DISPLAY_NUMBER = "15550100001"
DEFAULT_USER = "15550100099"
DEFAULT_WABA_ID = "100000000000001"
_TEMPLATES_PATH = re.compile(r"/(?P<waba_id>[^/]+)/message_templates")
_SEND_PATH = re.compile(r"/(?P<phone_number_id>[^/]+)/messages")
_NUMBER_PATH = re.compile(r"/(?P<phone_number_id>[^/]+)")
_DOWNLOAD_PATH = re.compile(r"/media-download/(?P<media_id>[^/]+)")
_TITLES = {
    100: "Invalid parameter",
    131021: "Recipient cannot be sender",
    131026: "Message undeliverable",
    131030: "Recipient phone number not in allowed list",
    131047: "Re-engagement message",
    131050: "User stopped marketing messages",
    130429: "Rate limit hit",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131000: "Something went wrong",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
}
INTERACTIVE_TYPES = frozenset({"button", "list", "cta_url", "product", "product_list", "flow"})


@dataclass(frozen=True)
class KnownTemplate:
    """An approved template: its languages, and how many parameters each component takes
    (``"header"``, ``"body"``, ``"button:0"`` for the button at index 0)."""

    languages: frozenset[str]
    parameters: dict[str, int]


SAMPLE_TEMPLATES = {
    "order_shipped_v1": KnownTemplate(
        frozenset({"en_US"}), {"header": 1, "body": 2, "button:0": 1}
    ),
}


# The sample template as Graph lists it: an image header, a body with two parameters, and a
# quick-reply button (whose payload a send gives).
SAMPLE_DEFINITIONS: list[dict[str, Any]] = [
    {
        "name": "order_shipped_v1",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way."},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Confirm"}]},
        ],
        "id": "900000000000001",
    }
]


@dataclass(frozen=True)
class Sent:
    """One message the fake accepted."""

    wamid: str
    phone_number_id: str
    body: dict[str, Any]


def graph_error_body(code: int, message: str | None = None, details: str = "") -> dict[str, Any]:
    """A Graph error body shaped like Meta's."""
    error: dict[str, Any] = {
        "message": message or f"(#{code}) {_TITLES.get(code, 'Error')}",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AFAKEtrace" + secrets.token_hex(6),
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


class FakeWhatsApp(ProviderFake):
    """Graph's send endpoint; ``sent`` lists accepted messages in order."""

    def __init__(self, access_token: str = DEFAULT_ACCESS_TOKEN) -> None:
        super().__init__()
        self.access_token = access_token
        self.sent: list[Sent] = []
        self.read_marks: list[dict[str, Any]] = []
        self._numbers = itertools.count(1)
        # other phone_number_ids → the access token that may read them (and send from them)
        self.readers: dict[str, str] = {}
        self._answer_as: deque[str] = deque()
        self.media: dict[str, tuple[bytes, str]] = {}  # media id → (bytes, mime type)
        self.templates: dict[str, KnownTemplate] = dict(SAMPLE_TEMPLATES)
        # WABA id → its templates as Graph lists them
        self.definitions: dict[str, list[dict[str, Any]]] = {
            DEFAULT_WABA_ID: [dict(each) for each in SAMPLE_DEFINITIONS]
        }

    def add_template(
        self,
        name: str,
        components: list[dict[str, Any]],
        status: str = "PENDING",
        language: str = "en_US",
        waba_id: str = DEFAULT_WABA_ID,
        parameters: dict[str, int] | None = None,
    ) -> None:
        """List a template under ``waba_id``; an APPROVED one (``parameters`` as
        ``KnownTemplate`` counts them) is accepted in sends too."""
        listed = self.definitions.setdefault(waba_id, [])
        number = 900_000_000_000_001 + sum(len(each) for each in self.definitions.values())
        listed.append(
            {
                "name": name,
                "language": language,
                "status": status,
                "category": "UTILITY",
                "components": components,
                "id": str(number),
            }
        )
        if status == "APPROVED":
            self.templates[name] = KnownTemplate(frozenset({language}), dict(parameters or {}))

    def add_media(self, data: bytes, mime_type: str) -> str:
        """Keep a file a user sent; its media id, as a webhook names it."""
        media_id = f"{9_000_000_000_000 + len(self.media) + 1}"
        self.media[media_id] = (data, mime_type)
        return media_id

    def add_number(self, phone_number_id: str, access_token: str | None = None) -> None:
        """From now on ``access_token`` (the fake's own by default) may read this number."""
        self.readers[phone_number_id] = access_token or self.access_token

    def answer_number_as(self, phone_number_id: str) -> None:
        """The next phone number look-up answers this id, whatever number it asked for."""
        self._answer_as.append(phone_number_id)

    def handle(self, request: Recorded) -> Reply:
        media = self._media(request)
        if media is not None:
            return media
        listing = _TEMPLATES_PATH.fullmatch(request.path)
        if request.method == "GET" and listing is not None:
            return self._template_list(request, unquote(listing["waba_id"]))
        lookup = _NUMBER_PATH.fullmatch(request.path)
        if request.method == "GET" and lookup is not None:
            return self._phone_number(request, unquote(lookup["phone_number_id"]))
        match = _SEND_PATH.fullmatch(request.path)
        if request.method != "POST" or match is None:
            return Reply(400, graph_error_body(100, "Unsupported request"))
        number = unquote(match["phone_number_id"])
        allowed = {f"Bearer {t}" for t in (self.access_token, self._reader_of(number)) if t}
        if request.headers.get("authorization") not in allowed:
            return Reply(401, graph_error_body(190, "Invalid OAuth access token."))
        try:
            body = request.json()
        except ValueError:
            return Reply(400, graph_error_body(100, details="The request body is not JSON."))
        if isinstance(body, dict) and body.get("status") == "read":
            return self._read_mark(body)
        try:
            problem = _problem(body)
            refusal = (
                _template_refusal(body["template"], self.templates)
                if not problem and (body["type"] == "template")
                else None
            )
        except (AttributeError, KeyError, TypeError):
            problem, refusal = "The message object is malformed.", None
        if problem:
            return Reply(400, graph_error_body(100, details=problem))
        if refusal:
            return Reply(400, graph_error_body(refusal[0], details=refusal[1]))
        wamid = "wamid.FAKE" + f"{next(self._numbers):06d}" + secrets.token_hex(8).upper()
        self.sent.append(Sent(wamid, number, body))
        message: dict[str, str] = {"id": wamid}
        if body["type"] == "template":
            message["message_status"] = "accepted"
        to = str(body["to"])
        return Reply(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [message],
            },
        )

    def is_indicator(self, request: Recorded) -> bool:
        return b'"status"' in request.raw and b'"read"' in request.raw

    def _read_mark(self, body: dict[str, Any]) -> Reply:
        """Marks an inbound message read, showing a typing indicator when asked for one."""
        indicator = body.get("typing_indicator", {"type": "text"})
        if (
            body.get("messaging_product") != "whatsapp"
            or not str(body.get("message_id", "")).startswith("wamid.")
            or indicator != {"type": "text"}
        ):
            return Reply(400, graph_error_body(100, details="The read mark is malformed."))
        self.read_marks.append(body)
        return Reply(200, {"success": True})

    def _reader_of(self, phone_number_id: str) -> str | None:
        if phone_number_id in self.readers:
            return self.readers[phone_number_id]
        return self.access_token if phone_number_id == DEFAULT_PHONE_NUMBER_ID else None

    def _media(self, request: Recorded) -> Reply | None:
        """Graph's media node and its download URL; None for a request that is neither."""
        download = _DOWNLOAD_PATH.fullmatch(request.path)
        media_id = unquote(download["media_id"] if download else request.path.strip("/"))
        if request.method != "GET" or media_id not in self.media:
            return None
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return Reply(401, graph_error_body(190, "Invalid OAuth access token."))
        data, mime_type = self.media[media_id]
        if download:
            return Reply(200, data, content_type=mime_type)
        return Reply(
            200,
            {
                "messaging_product": "whatsapp",
                "url": f"{self.base_url}/media-download/{media_id}",
                "mime_type": mime_type,
                "sha256": hashlib.sha256(data).hexdigest(),
                "file_size": str(len(data)),
                "id": media_id,
            },
        )

    def _phone_number(self, request: Recorded, phone_number_id: str) -> Reply:
        """Graph's ``GET /{phone_number_id}``: the number, for a token allowed to read it."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in {self.access_token, *self.readers.values()}:
            return Reply(401, graph_error_body(190, "Invalid OAuth access token."))
        if self._reader_of(phone_number_id) != token:
            message = (
                f"Unsupported get request. Object with ID '{phone_number_id}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this operation."
            )
            body = graph_error_body(100, message)
            body["error"]["error_subcode"] = 33
            return Reply(400, body)
        number = {
            "id": self._answer_as.popleft() if self._answer_as else phone_number_id,
            "display_phone_number": "+1 555-010-" + phone_number_id[-4:].rjust(4, "0"),
            "verified_name": "Fake Business",
            "code_verification_status": "VERIFIED",
            "quality_rating": "GREEN",
            "platform_type": "CLOUD_API",
        }
        fields = request.query.get("fields")
        if fields:
            wanted = {"id", *fields.split(",")}
            number = {key: value for key, value in number.items() if key in wanted}
        return Reply(200, number)

    def _template_list(self, request: Recorded, waba_id: str) -> Reply:
        """Graph's ``GET /{waba-id}/message_templates``: a page, with cursors to the next."""
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return Reply(401, graph_error_body(190, "Invalid OAuth access token."))
        if waba_id not in self.definitions:
            message = (
                f"Unsupported get request. Object with ID '{waba_id}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this operation."
            )
            body = graph_error_body(100, message)
            body["error"]["error_subcode"] = 33
            return Reply(400, body)
        listed = self.definitions[waba_id]
        try:
            limit = int(request.query.get("limit", "25"))
            start = (
                int(base64.b64decode(request.query["after"]).decode())
                if "after" in request.query
                else 0
            )
        except (ValueError, UnicodeDecodeError):
            return Reply(400, graph_error_body(100, "Invalid parameter"))
        fields = request.query.get("fields")
        wanted = (
            {"id", *fields.split(",")}
            if fields
            else {"id", "name", "language", "status", "category", "components"}
        )
        page = [
            {k: v for k, v in each.items() if k in wanted} for each in listed[start : start + limit]
        ]
        end = start + len(page)
        paging: dict[str, Any] = {
            "cursors": {
                "before": base64.b64encode(str(start).encode()).decode(),
                "after": base64.b64encode(str(end).encode()).decode(),
            }
        }
        if end < len(listed):
            after = paging["cursors"]["after"]
            paging["next"] = (
                f"{self.base_url}/{waba_id}/message_templates?fields={fields or ''}"
                f"&limit={limit}&after={after}"
            )
        return Reply(200, {"data": page, "paging": paging})

    def fail_with_rate_limit(
        self,
        code: int = 130429,
        status: int = 400,
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """Throughput (130429) or pair rate (131056); Meta often answers these with HTTP 400."""
        self.fail_next(status, graph_error_body(code), retry_after, times)

    def fail_with_server_error(self, times: int = 1) -> None:
        self.fail_next(500, graph_error_body(131000), times=times)

    def fail_with_permanent_error(
        self, code: int = 131047, status: int = 400, times: int = 1
    ) -> None:
        self.fail_next(status, graph_error_body(code), times=times)


def _problem(body: Any) -> str | None:
    """Why Graph would refuse ``body`` as a message, for the limits the adapter must keep."""
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    kind = body.get("type")
    if not body.get("to") or not isinstance(kind, str) or not isinstance(body.get(kind), dict):
        return "to, type and the object named by type are required"
    content = body[kind]
    if kind == "text" and not 0 < len(str(content.get("body", ""))) <= 4096:
        return "Param text['body'] must be between 1 and 4096 characters long."
    if len(str(content.get("caption", ""))) > 1024:
        return "Param caption must be at most 1024 characters long."
    if kind == "interactive":
        return _interactive_problem(content)
    if kind == "location":
        where = [content.get("latitude"), content.get("longitude")]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in where):
            return "Param location['latitude'] and location['longitude'] are required numbers."
        if not (-90 <= where[0] <= 90 and -180 <= where[1] <= 180):
            return "Param location has coordinates out of range."
    if kind in ("image", "video", "audio", "document") and not (
        content.get("link") or content.get("id")
    ):
        return f"Param {kind} must have a link or an id."
    if kind == "template" and not (content.get("name") and content["language"].get("code")):
        return "Param template['name'] and template['language']['code'] are required."
    return None


def _interactive_problem(content: dict[str, Any]) -> str | None:
    kind = content.get("type")
    if kind not in INTERACTIVE_TYPES:
        return f"Param interactive['type'] must be one of {sorted(INTERACTIVE_TYPES)}."
    if not 0 < len(content.get("body", {}).get("text", "")) <= 1024:
        return "Param interactive['body']['text'] must be between 1 and 1024 characters."
    header = content.get("header")
    if header is not None:
        medium = header.get("type")
        if medium == "text" and not 0 < len(header.get("text", "")) <= 60:
            return "Param interactive['header']['text'] must be between 1 and 60 characters."
        if medium != "text" and not (header.get(medium) or {}).get("link"):
            return "Param interactive['header'] must carry a text or a media link."
    action = content.get("action", {})
    if kind == "button":
        buttons = [b["reply"] for b in action.get("buttons", [])]
        if not 1 <= len(buttons) <= 3:
            return "Reply buttons must number between 1 and 3."
        if any(len(b["title"]) > 20 or len(b["id"]) > 256 for b in buttons):
            return "Button title must be at most 20 characters long."
    if kind == "list":
        sections = action.get("sections", [])
        rows = [r for section in sections for r in section["rows"]]
        if not 0 < len(action.get("button", "")) <= 20:
            return "Param interactive['action']['button'] must be between 1 and 20 characters."
        if not 1 <= len(rows) <= 10 or not 1 <= len(sections) <= 10:
            return "A list holds 1 to 10 sections with 1 to 10 rows in all."
        if any(len(r["title"]) > 24 or len(r["id"]) > 200 for r in rows):
            return "A list row's title is at most 24 characters, its id at most 200."
        if any(len(r.get("description", "")) > 72 for r in rows):
            return "A list row's description is at most 72 characters."
        if len({r["id"] for r in rows}) != len(rows):
            return "A list row's id must be unique."
        if len(sections) > 1 and not all(s.get("title") for s in sections):
            return "Each section needs a title when a list has more than one."
    if kind == "cta_url":
        parameters = action.get("parameters", {})
        if action.get("name") != "cta_url" or not parameters.get("url"):
            return "Param interactive['action'] must be name cta_url with parameters['url']."
        if not 0 < len(parameters.get("display_text", "")) <= 20:
            return "Param parameters['display_text'] must be between 1 and 20 characters."
    return None


def _template_refusal(
    template: dict[str, Any], known: dict[str, KnownTemplate]
) -> tuple[int, str] | None:
    """Graph's code and details for a template it would refuse, or None."""
    name, language = template["name"], template["language"]["code"]
    approved = known.get(name)
    if approved is None or language not in approved.languages:
        return 132001, f"template name ({name}) does not exist in {language}"
    given: dict[str, int] = {}
    for component in template.get("components", []):
        key = str(component["type"])
        if key == "button":
            key = f"button:{component['index']}"
        given[key] = len(component.get("parameters", []))
    for key in sorted(set(approved.parameters) | set(given)):
        expected, got = approved.parameters.get(key, 0), given.get(key, 0)
        if expected != got:
            return 132000, (
                f"{key}: number of localizable_params ({got}) does not match the expected"
                f" number of params ({expected})"
            )
    return None


def signed_webhook(payload: dict[str, Any], app_secret: str) -> tuple[bytes, dict[str, str]]:
    """The bytes Meta would POST for ``payload`` and its headers (names lower-case)."""
    raw = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()
    sha256 = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    sha1 = hmac.new(app_secret.encode(), raw, hashlib.sha1).hexdigest()
    return raw, {
        "content-type": "application/json",
        "x-hub-signature-256": f"sha256={sha256}",
        "x-hub-signature": f"sha1={sha1}",
    }


def new_wamid() -> str:
    return "wamid.FAKEin" + secrets.token_hex(12).upper()


def inbound_text(
    text: str,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    user: str = DEFAULT_USER,
    name: str = "Test User",
    wamid: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A user's text message as a ``messages`` webhook."""
    message = _user_message(user, wamid, timestamp, "text", {"body": text})
    return _user_webhook(phone_number_id, user, name, message)


def inbound_location(
    latitude: float,
    longitude: float,
    place: dict[str, str] | None = None,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    user: str = DEFAULT_USER,
    wamid: str | None = None,
) -> dict[str, Any]:
    """A user's shared location as a ``messages`` webhook; ``place`` adds its name and address."""
    location = {"latitude": latitude, "longitude": longitude, **(place or {})}
    message = _user_message(user, wamid, None, "location", location)
    return _user_webhook(phone_number_id, user, "Test User", message)


def inbound_media(
    kind: str,
    media_id: str,
    mime_type: str,
    caption: str | None = None,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    user: str = DEFAULT_USER,
    name: str = "Test User",
) -> dict[str, Any]:
    """A user's image, audio, video or document (``FakeWhatsApp.add_media`` holds its bytes)."""
    media = {"id": media_id, "mime_type": mime_type, "sha256": "FAKEsha256"}
    if caption:
        media["caption"] = caption
    message = _user_message(user, None, None, kind, media)
    return _user_webhook(phone_number_id, user, name, message)


def inbound_button_reply(
    option_id: str,
    title: str,
    context_wamid: str,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    user: str = DEFAULT_USER,
    name: str = "Test User",
    wamid: str | None = None,
) -> dict[str, Any]:
    """A tap on a reply button of the business message ``context_wamid``."""
    reply = {"type": "button_reply", "button_reply": {"id": option_id, "title": title}}
    message = _user_message(user, wamid, None, "interactive", reply)
    message["context"] = {"from": DEFAULT_DISPLAY_NUMBER, "id": context_wamid}
    return _user_webhook(phone_number_id, user, name, message)


def status_callback(
    wamid: str,
    status: str,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    recipient: str = DEFAULT_USER,
    error_code: int = 131047,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A ``sent``/``delivered``/``read``/``failed`` status for a message the business sent."""
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp or int(time.time())),
        "recipient_id": recipient,
    }
    if status == "failed":
        title = _TITLES.get(error_code, "Error")
        item["errors"] = [
            {
                "code": error_code,
                "title": title,
                "message": title,
                "error_data": {"details": f"Message failed to send ({title})."},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }
        ]
    else:
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service"}
    return _webhook(phone_number_id, {"statuses": [item]})


def _user_message(
    user: str, wamid: str | None, timestamp: int | None, kind: str, content: dict[str, Any]
) -> dict[str, Any]:
    return {
        "from": user,
        "id": wamid or new_wamid(),
        "timestamp": str(timestamp or int(time.time())),
        "type": kind,
        kind: content,
    }


def _user_webhook(
    phone_number_id: str, user: str, name: str, message: dict[str, Any]
) -> dict[str, Any]:
    contacts = [{"profile": {"name": name}, "wa_id": user}]
    return _webhook(phone_number_id, {"contacts": contacts, "messages": [message]})


def _webhook(phone_number_id: str, value: dict[str, Any]) -> dict[str, Any]:
    metadata = {"display_phone_number": DEFAULT_DISPLAY_NUMBER, "phone_number_id": phone_number_id}
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "100000000000001",
                "changes": [
                    {
                        "value": {"messaging_product": "whatsapp", "metadata": metadata} | value,
                        "field": "messages",
                    }
                ],
            }
        ],
    }
