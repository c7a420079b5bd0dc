"""How Parley's reply parts become WhatsApp Cloud API message bodies within WhatsApp's limits.

One part becomes one or more messages, in order:

- text: ``text`` messages, split at 4096 characters;
- quick_replies and buttons: reply buttons (up to 3 postbacks) or a list (up to 10 rows); more
  degrade to numbered text; link and call buttons follow as below;
- card: reply buttons under an image header (the image goes ahead, captioned, when a list is
  needed); a card whose buttons are all links is one ``cta_url`` message under its image;
- links: WhatsApp's ``cta_url`` carries ONE URL button, so the first link becomes a ``cta_url``
  message and any further links, and every call button, follow as one numbered text (a message
  per link would flood the chat); a reply button cannot open a link or dial;
- list: a ``list`` message (up to 10 rows, one untitled section; a row's id is the item's
  payload, its description the subtitle); items with images or link buttons are sent as one card
  each instead, and more than 10 items degrade to text;
- media: ``image``/``video``/``audio``/``document`` by MIME type; file: a ``document`` with its
  filename; both sent by ``link``;
- location: a ``location`` message; template: a ``template`` message with its components.

Media goes by ``link``, never uploaded (``POST /{phone-number-id}/media``): a link WhatsApp can
fetch costs one call instead of three, and a URL it cannot fetch is on a private network, which
Parley must not read on an engine's say-so (a model could then hand a user Parley's own files).

Captions and interactive bodies hold 1024 characters: longer text goes ahead as text messages
and only its last piece rides on the media or interactive message, so nothing is cut.
"""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from channels.content import (
    ReplyPart,
    button_action,
    coordinates,
    degrade_to_text,
    split_text,
    truncate,
)
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
        return _buttons(str(part.get("text") or ""), part.get("options"), list_label)
    if kind == "buttons":
        return _buttons(str(part.get("text") or ""), part.get("buttons"), list_label)
    if kind == "media":
        return _media(part)
    if kind == "file":
        return _file(part)
    if kind == "card":
        return _card(part, list_label)
    if kind == "list":
        return _list(part, list_label)
    if kind == "location":
        return _location(part)
    if kind == "template":
        return [_template(part)]
    return _texts(degrade_to_text([part]))


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


def _choices_and_links(items: Any) -> tuple[list[ReplyPart], list[ReplyPart]]:
    """Buttons a user can answer with (postbacks), and the rest (links, calls), each titled."""
    named = [
        item | {"title": str(item.get("title") or item.get("payload") or item.get("url") or "")}
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    ]
    choices = [i for i in named if button_action(i) == "postback"]
    return choices, [i for i in named if button_action(i) != "postback"]


def _buttons(text: str, items: Any, list_label: str) -> list[Message]:
    choices, others = _choices_and_links(items)
    if not choices:
        return _links(others, text)
    return _interactive(text, choices, list_label) + _links(others)


def _links(
    buttons: list[ReplyPart], body: str = "", header: Message | None = None
) -> list[Message]:
    """The first link as a ``cta_url`` message over ``body`` (else its own title), the other
    links and the calls as one numbered text."""
    links = [b for b in buttons if button_action(b) == "link"]
    if not links:
        return _texts(degrade_to_text([{"type": "buttons", "text": body, "buttons": buttons}]))
    first = links[0]
    lead, tail = _lead_and_tail(body or first["title"], CAPTION_LIMIT)
    interactive: dict[str, Any] = {"type": "cta_url"}
    if header:
        interactive["header"] = header
    interactive |= {
        "body": {"text": tail},
        "action": {
            "name": "cta_url",
            "parameters": {
                "display_text": truncate(first["title"], BUTTON_TITLE_LIMIT),
                "url": str(first["url"]),
            },
        },
    }
    rest = [b for b in buttons if b is not first]
    after = _texts(degrade_to_text([{"type": "buttons", "buttons": rest}])) if rest else []
    return [*lead, {"type": "interactive", "interactive": interactive}, *after]


def _interactive(
    text: str, choices: list[ReplyPart], list_label: str, header: Message | None = None
) -> list[Message]:
    if len(choices) > MAX_ROWS:
        return _texts(
            degrade_to_text([{"type": "quick_replies", "text": text, "options": choices}])
        )
    lead, body = _lead_and_tail(text, CAPTION_LIMIT)
    if not body:  # WhatsApp requires a body; the options themselves say the most
        body = degrade_to_text([{"type": "quick_replies", "options": choices}])
    interactive: dict[str, Any] = {"body": {"text": truncate(body, CAPTION_LIMIT)}}
    if len(choices) <= MAX_BUTTONS:
        interactive = ({"header": header} if header else {}) | interactive
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


def _media_message(kind: str, url: str, caption: str, filename: str = "") -> list[Message]:
    lead, caption = _lead_and_tail(caption, CAPTION_LIMIT)
    media: dict[str, str] = {"link": url}
    if caption:
        media["caption"] = caption
    if kind == "document":
        filename = filename or unquote(PurePosixPath(urlsplit(url).path).name)
        if filename:
            media["filename"] = filename
    return [*lead, {"type": kind, kind: media}]


def _file(part: ReplyPart) -> list[Message]:
    url, caption = str(part.get("url") or ""), str(part.get("caption") or "")
    if not url:
        return _texts(degrade_to_text([part]))
    return _media_message("document", url, caption, str(part.get("filename") or ""))


def _card(part: ReplyPart, list_label: str) -> list[Message]:
    title = str(part.get("title") or "")
    caption = "\n".join(filter(None, [title, str(part.get("subtitle") or "")]))
    image_url = str(part.get("image_url") or "")
    header = {"type": "image", "image": {"link": image_url}} if image_url else None
    choices, others = _choices_and_links(part.get("buttons"))
    if len(choices) > MAX_BUTTONS:  # a list has no image header: the image goes ahead
        ahead = _media_message("image", image_url, caption) if image_url else []
        body = title if image_url else caption
        return ahead + _interactive(body, choices, list_label) + _links(others)
    if choices:
        return _interactive(caption, choices, list_label, header) + _links(others)
    if any(button_action(b) == "link" for b in others):
        return _links(others, caption, header)
    if image_url:
        return _media_message("image", image_url, caption) + _links(others)
    return _texts(degrade_to_text([part]))


def _list(part: ReplyPart, list_label: str) -> list[Message]:
    items = [i for i in part.get("items") or [] if isinstance(i, dict) and _item_title(i)]
    text = str(part.get("text") or "")
    rich = any(i.get("image_url") or not _one_choice_at_most(i) for i in items)
    if not items or len(items) > MAX_ROWS:
        return _texts(degrade_to_text([part]))
    if rich:  # rows show neither images nor links: one card per item
        cards = [{"type": "card", "title": _item_title(i)} | _card_fields(i) for i in items]
        return _texts(text) + [m for card in cards for m in _card(card, list_label)]
    lead, body = _lead_and_tail(text, CAPTION_LIMIT)
    rows = [_list_row(item) for item in items]
    label = str(part.get("button") or "") or list_label
    interactive = {
        "type": "list",
        "body": {"text": body or truncate(label, CAPTION_LIMIT)},
        "action": {"button": truncate(label, LIST_LABEL_LIMIT), "sections": [{"rows": rows}]},
    }
    return [*lead, {"type": "interactive", "interactive": interactive}]


def _one_choice_at_most(item: dict[str, Any]) -> bool:
    choices, others = _choices_and_links(item.get("buttons"))
    return not others and len(choices) <= 1


def _item_title(item: dict[str, Any]) -> str:
    return str(item.get("title") or item.get("payload") or "")


def _card_fields(item: dict[str, Any]) -> dict[str, Any]:
    return {key: item[key] for key in ("subtitle", "image_url", "buttons") if item.get(key)}


def _list_row(item: dict[str, Any]) -> dict[str, str]:
    """A row answers with the item's payload, else its first button's, else its title."""
    choices, _ = _choices_and_links(item.get("buttons"))
    payload = item.get("payload") or (choices[0].get("payload") if choices else "")
    row = _row({"title": _item_title(item), "payload": payload})
    if item.get("subtitle"):
        row["description"] = truncate(str(item["subtitle"]), ROW_DESCRIPTION_LIMIT)
    return row


def _location(part: ReplyPart) -> list[Message]:
    where = coordinates(part)
    if where is None:
        return _texts(degrade_to_text([part]))
    location: dict[str, Any] = {"latitude": where[0], "longitude": where[1]}
    location |= {key: str(part[key]) for key in ("name", "address") if part.get(key)}
    return [{"type": "location", "location": location}]


def _template(part: ReplyPart) -> Message:
    language = part.get("language")
    template: dict[str, Any] = {
        "name": str(part.get("name") or ""),
        "language": language if isinstance(language, dict) else {"code": str(language or "")},
    }
    if part.get("components"):
        template["components"] = part["components"]
    return {"type": "template", "template": template}
