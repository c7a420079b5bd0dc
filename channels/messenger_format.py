"""How Parley's reply parts become Messenger Send API ``message`` objects, one per message sent.

What Messenger can show natively: text (split at 2000 characters), quick replies (1-13 text
options, no links), media and files by URL (caption as a following text), a button template (a
card without an image, or a buttons part, with 1-3 buttons: ``web_url``, ``postback`` or
``phone_number``), a one-element generic template (a card with a title and an image) and a
generic-template carousel (a list of 1-10 items). Messenger cannot send a location, so a location
is its map link in text; that, templates and everything over a limit go through the shared
``degrade_to_text``.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import urlsplit

from channels.content import ReplyPart, button_action, degrade_to_text, split_text, truncate

TEXT_LIMIT = 2000
QUICK_REPLY_LIMIT = 13
QUICK_REPLY_TITLE_LIMIT = 20
BUTTON_LIMIT = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_TEMPLATE_TEXT_LIMIT = 640
GENERIC_TITLE_LIMIT = 80
GENERIC_SUBTITLE_LIMIT = 80
CAROUSEL_LIMIT = 10

Message = dict[str, Any]


def messages_for(parts: list[ReplyPart], fallback_text: str) -> list[Message]:
    """The ``message`` objects for one reply, in order; ``fallback_text`` when there are no parts.
    Parts that render to nothing (empty text) send nothing."""
    messages: list[Message] = []
    for part in parts or [{"type": "text", "text": fallback_text}]:
        messages.extend(_part_messages(part))
    return messages


def attachment_type(url: str, mime_type: str) -> str:
    """Messenger's attachment type for a media URL: image, video, audio, or else file."""
    mime = mime_type or mimetypes.guess_type(urlsplit(url).path)[0] or ""
    major = mime.partition("/")[0].lower()
    return major if major in ("image", "video", "audio") else "file"


def _part_messages(part: ReplyPart) -> list[Message]:
    kind = part.get("type")
    if kind == "text":
        return _texts(_str(part.get("text")))
    if kind == "quick_replies":
        return _quick_replies(part)
    if kind in ("media", "file"):
        return _media(part)
    if kind == "card":
        return _card(part)
    if kind == "buttons":
        return _buttons(part)
    if kind == "list":
        return _carousel(part)
    return _texts(degrade_to_text([part]))  # an unknown type renders to nothing


def _texts(text: str) -> list[Message]:
    if not text.strip():
        return []
    return [{"text": chunk} for chunk in split_text(text, TEXT_LIMIT)]


def _quick_replies(part: ReplyPart) -> list[Message]:
    text = _str(part.get("text"))
    options = _titled(part.get("options"))
    native = (
        text.strip()  # Messenger shows quick replies only under a text
        and 0 < len(options) <= QUICK_REPLY_LIMIT
        # quick replies cannot open links or dial
        and all(button_action(option) == "postback" for option in options)
    )
    if not native:
        return _texts(
            degrade_to_text([{"type": "quick_replies", "text": text, "options": options}])
        )
    *leading, last = split_text(text, TEXT_LIMIT)
    quick_replies = [
        {
            "content_type": "text",
            "title": truncate(option["title"], QUICK_REPLY_TITLE_LIMIT),
            "payload": _str(option.get("payload")) or option["title"],
        }
        for option in options
    ]
    return [*({"text": chunk} for chunk in leading), {"text": last, "quick_replies": quick_replies}]


def _media(part: ReplyPart) -> list[Message]:
    url = _str(part.get("url"))
    caption = _str(part.get("caption"))
    if not url:
        return _texts(caption)
    kind = attachment_type(url, _str(part.get("mime_type")))
    attachment = {"type": kind, "payload": {"url": url, "is_reusable": False}}
    return [{"attachment": attachment}, *_texts(caption)]


def _card(part: ReplyPart) -> list[Message]:
    title = _str(part.get("title"))
    subtitle = _str(part.get("subtitle"))
    image_url = _str(part.get("image_url"))
    buttons = _titled(part.get("buttons"))
    if len(buttons) <= BUTTON_LIMIT:
        if image_url and title:
            element: dict[str, Any] = {"title": truncate(title, GENERIC_TITLE_LIMIT)}
            if subtitle:
                element["subtitle"] = truncate(subtitle, GENERIC_SUBTITLE_LIMIT)
            element["image_url"] = image_url
            if buttons:
                element["buttons"] = [_button(button) for button in buttons]
            return [_template({"template_type": "generic", "elements": [element]})]
        text = "\n".join(filter(None, [title, subtitle]))
        if not image_url and buttons and text.strip():
            return [
                _template(
                    {
                        "template_type": "button",
                        "text": truncate(text, BUTTON_TEMPLATE_TEXT_LIMIT),
                        "buttons": [_button(button) for button in buttons],
                    }
                )
            ]
    card = {
        "type": "card",
        "title": title,
        "subtitle": subtitle,
        "image_url": image_url,
        "buttons": buttons,
    }
    return _texts(degrade_to_text([card]))


def _buttons(part: ReplyPart) -> list[Message]:
    text = _str(part.get("text"))
    buttons = _titled(part.get("buttons"))
    if text.strip() and 0 < len(buttons) <= BUTTON_LIMIT:
        payload = {
            "template_type": "button",
            "text": truncate(text, BUTTON_TEMPLATE_TEXT_LIMIT),
            "buttons": [_button(button) for button in buttons],
        }
        return [_template(payload)]
    if all(button_action(b) == "postback" for b in buttons):
        return _quick_replies({"type": "quick_replies", "text": text, "options": buttons})
    return _texts(degrade_to_text([part]))


def _carousel(part: ReplyPart) -> list[Message]:
    """A generic template of one element per item; an element needs more than its title, so an
    item with nothing else gets a postback button of its payload."""
    items = _titled(part.get("items"))
    fits = all(len(_titled(i.get("buttons"))) <= BUTTON_LIMIT for i in items)
    if not 0 < len(items) <= CAROUSEL_LIMIT or not fits:
        return _texts(degrade_to_text([part]))
    elements = []
    for item in items:
        element: dict[str, Any] = {"title": truncate(item["title"], GENERIC_TITLE_LIMIT)}
        if item.get("subtitle"):
            element["subtitle"] = truncate(_str(item["subtitle"]), GENERIC_SUBTITLE_LIMIT)
        if item.get("image_url"):
            element["image_url"] = _str(item["image_url"])
        buttons = _titled(item.get("buttons")) or [
            {"title": item["title"], "payload": _str(item.get("payload")) or item["title"]}
        ]
        element["buttons"] = [_button(button) for button in buttons]
        elements.append(element)
    carousel = _template({"template_type": "generic", "elements": elements})
    return [*_texts(_str(part.get("text"))), carousel]


def _button(button: dict[str, Any]) -> dict[str, Any]:
    title = truncate(button["title"], BUTTON_TITLE_LIMIT)
    action = button_action(button)
    if action == "link":
        return {"type": "web_url", "title": title, "url": _str(button.get("url"))}
    if action == "call":
        return {"type": "phone_number", "title": title, "payload": _str(button.get("phone"))}
    return {
        "type": "postback",
        "title": title,
        "payload": _str(button.get("payload")) or button["title"],
    }


def _template(payload: dict[str, Any]) -> Message:
    return {"attachment": {"type": "template", "payload": payload}}


def _titled(items: Any) -> list[dict[str, Any]]:
    """The options or buttons that have a title; nothing else can be shown."""
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict) and _str(item.get("title"))]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
