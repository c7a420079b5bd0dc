"""How Parley's reply parts become WhatsApp Cloud API message bodies within WhatsApp's limits.

One part becomes one or more messages, in order:

- text: ``text`` messages, split at 4096 characters;
- quick_replies: reply buttons (up to 3 options) or a list (up to 10 rows); more options
  degrade to numbered text; options with a ``url`` follow as text, since a reply can't open a link;
- media: ``image``/``video``/``audio``/``document`` by MIME type, sent by ``link``;
- card: an image captioned with title and subtitle, then its reply buttons, then its link
  buttons as text; a card with neither an image nor reply buttons is sent as text;
- template: a ``template`` message, passed through as given.

Captions and interactive bodies hold 1024 characters: longer text goes ahead as text messages
and only its last piece rides on the media or interactive message, so nothing is cut.
"""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from channels.content import ReplyPart, degrade_to_text, split_text, truncate
from core.envelopes import Outbound

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024  # media captions and interactive body text
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
MAX_BUTTONS = 3
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
MAX_ROWS = 10
LIST_LABEL_LIMIT = 20
DEFAULT_LIST_LABEL = "Options"

Message = dict[str, Any]  # one message without the envelope: {"type": t, t: {...}}


def message_bodies(
    outbound: Outbound, quote_wamid: str | None = None, list_label: str | None = None
) -> list[dict[str, Any]]:
    """The request bodies for ``outbound``, in order; the first one quotes ``quote_wamid``."""
    parts = outbound.parts or [{"type": "text", "text": outbound.text}]
    label = list_label or DEFAULT_LIST_LABEL
    messages = [message for part in parts for message in _part(part, label)]
    bodies: list[dict[str, Any]] = []
    for position, message in enumerate(messages):
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": outbound.recipient,
        }
        if quote_wamid and position == 0:
            body["context"] = {"message_id": quote_wamid}
        bodies.append(body | message)
    return bodies


def _part(part: ReplyPart, list_label: str) -> list[Message]:
    kind = part.get("type")
    if kind == "text":
        return _texts(str(part.get("text") or ""))
    if kind == "quick_replies":
        return _quick_replies(part, list_label)
    if kind == "media":
        return _media(part)
    if kind == "card":
        return _card(part, list_label)
    if kind == "template":
        return [_template(part)]
    return _texts(degrade_to_text([part]) or str(part.get("text") or ""))


def _texts(text: str) -> list[Message]:
    text = text.strip()
    if not text:
        return []
    return [
        {"type": "text", "text": {"preview_url": False, "body": chunk}}
        for chunk in split_text(text, TEXT_LIMIT)
    ]


def _lead_and_tail(text: str, limit: int) -> tuple[list[Message], str]:
    """Text messages for all but the last ``limit``-sized piece of ``text``, and that piece."""
    text = text.strip()
    if len(text) <= limit:
        return [], text
    tail = split_text(text, limit)[-1]  # always a suffix of the stripped text
    return _texts(text[: len(text) - len(tail)]), tail


def _choices_and_links(items: list[Any]) -> tuple[list[ReplyPart], list[ReplyPart]]:
    """Options a user can answer with (no ``url``), and link options, each with a title."""
    named = [
        item | {"title": str(item.get("title") or item.get("payload") or item.get("url") or "")}
        for item in items
        if isinstance(item, dict)
    ]
    return [i for i in named if not i.get("url")], [i for i in named if i.get("url")]


def _quick_replies(part: ReplyPart, list_label: str) -> list[Message]:
    text = str(part.get("text") or "")
    choices, links = _choices_and_links(part.get("options") or [])
    if not choices:
        return _texts(degrade_to_text([{"type": "card", "title": text, "buttons": links}]))
    return _interactive(text, choices, list_label) + _links(links)


def _links(links: list[ReplyPart]) -> list[Message]:
    return _texts(degrade_to_text([{"type": "card", "buttons": links}])) if links else []


def _interactive(text: str, choices: list[ReplyPart], list_label: str) -> list[Message]:
    if len(choices) > MAX_ROWS:
        return _texts(
            degrade_to_text([{"type": "quick_replies", "text": text, "options": choices}])
        )
    lead, body = _lead_and_tail(text, CAPTION_LIMIT)
    if not body:  # WhatsApp requires a body; the options themselves say the most
        body = degrade_to_text([{"type": "quick_replies", "options": choices}])
    interactive: dict[str, Any] = {"body": {"text": truncate(body, CAPTION_LIMIT)}}
    if len(choices) <= MAX_BUTTONS:
        interactive |= {
            "type": "button",
            "action": {
                "buttons": [
                    {
                        "type": "reply",
                        "reply": {
                            "id": _reply_id(choice)[:BUTTON_ID_LIMIT],
                            "title": truncate(choice["title"], BUTTON_TITLE_LIMIT),
                        },
                    }
                    for choice in choices
                ]
            },
        }
    else:
        interactive |= {
            "type": "list",
            "action": {
                "button": truncate(list_label, LIST_LABEL_LIMIT),
                "sections": [{"rows": [_row(choice) for choice in choices]}],
            },
        }
    return [*lead, {"type": "interactive", "interactive": interactive}]


def _reply_id(choice: ReplyPart) -> str:
    return str(choice.get("payload") or choice["title"])


def _row(choice: ReplyPart) -> dict[str, str]:
    title: str = choice["title"]
    row = {"id": _reply_id(choice)[:ROW_ID_LIMIT], "title": truncate(title, ROW_TITLE_LIMIT)}
    if len(title) > ROW_TITLE_LIMIT:  # the description row shows what the title lost
        row["description"] = truncate(title, ROW_DESCRIPTION_LIMIT)
    return row


def _media(part: ReplyPart) -> list[Message]:
    url = str(part.get("url") or "")
    caption = str(part.get("caption") or "")
    if not url:
        return _texts(caption)
    mime_type = part.get("mime_type") or mimetypes.guess_type(urlsplit(url).path)[0] or ""
    kind = str(mime_type).split("/", 1)[0]
    if kind == "audio":  # audio messages carry no caption
        return [{"type": "audio", "audio": {"link": url}}, *_texts(caption)]
    return _media_message(kind if kind in ("image", "video") else "document", url, caption)


def _media_message(kind: str, url: str, caption: str) -> list[Message]:
    lead, caption = _lead_and_tail(caption, CAPTION_LIMIT)
    media: dict[str, str] = {"link": url}
    if caption:
        media["caption"] = caption
    if kind == "document" and (filename := unquote(PurePosixPath(urlsplit(url).path).name)):
        media["filename"] = filename
    return [*lead, {"type": kind, kind: media}]


def _card(part: ReplyPart, list_label: str) -> list[Message]:
    title = str(part.get("title") or "")
    caption = "\n".join(filter(None, [title, str(part.get("subtitle") or "")]))
    image_url = str(part.get("image_url") or "")
    choices, links = _choices_and_links(part.get("buttons") or [])
    if not image_url and not choices:
        return _texts(degrade_to_text([part | {"buttons": links}]))
    messages: list[Message] = []
    if image_url:
        messages += _media_message("image", image_url, caption)
    if choices:
        messages += _interactive(title if image_url else caption, choices, list_label)
    return messages + _links(links)


def _template(part: ReplyPart) -> Message:
    language = part.get("language")
    template: dict[str, Any] = {
        "name": str(part.get("name") or ""),
        "language": language if isinstance(language, dict) else {"code": str(language or "")},
    }
    if part.get("components"):
        template["components"] = part["components"]
    return {"type": "template", "template": template}
