"""How Parley's reply parts become Messenger Send API ``message`` objects, one per message sent.

What Messenger can show natively: text (split at 2000 characters), quick replies (1-13 text
options, no links), media by URL (caption as a following text), a button template (a card with
1-3 buttons and no image) and a one-element generic template (a card with a title and an image).
Everything else goes through the shared ``degrade_to_text``.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import urlsplit

from channels.content import ReplyPart, degrade_to_text, split_text, truncate

TEXT_LIMIT = 2000
QUICK_REPLY_LIMIT = 13
QUICK_REPLY_TITLE_LIMIT = 20
BUTTON_LIMIT = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_TEMPLATE_TEXT_LIMIT = 640
GENERIC_TITLE_LIMIT = 80
GENERIC_SUBTITLE_LIMIT = 80

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
    if kind == "media":
        return _media(part)
    if kind == "card":
        return _card(part)
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
        and not any(option.get("url") for option in options)  # quick replies cannot open links
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


def _button(button: dict[str, Any]) -> dict[str, Any]:
    title = truncate(button["title"], BUTTON_TITLE_LIMIT)
    url = _str(button.get("url"))
    if url:
        return {"type": "web_url", "title": title, "url": url}
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
