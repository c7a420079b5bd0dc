"""Reply parts rendered as Slack ``chat.postMessage`` bodies (text and Block Kit), one per message.

Text is escaped (``&``, ``<``, ``>``) so a reply can never form a control sequence such as
``<!channel>`` that would notify a whole channel. Quick replies, buttons parts and card buttons
become Block Kit buttons whose ``value`` is the option's payload; a link button carries its
``url`` and no ``value``, which is how the adapter tells a followed link from a chosen option when
Slack reports the click. Slack buttons cannot dial, so a call button is a line of the section
text. A card is a header, a section, an image and an actions block; a list is a section per item
(its image as the section's accessory) followed by the item's buttons. Media and files other than
images cannot be posted by URL (files need a three-call upload), locations and templates have no
Slack form: they degrade to text with the shared helper and Slack unfurls the link.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import urlsplit

from channels.content import ReplyPart, button_action, degrade_to_text, split_text, truncate

# Slack truncates ``text`` at 40,000 characters; beyond ~4,000 a message stops being readable.
TEXT_LIMIT = 4000
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
IMAGE_TEXT_LIMIT = 2000  # image block alt_text and title
BUTTONS_PER_BLOCK = 25
MAX_BLOCKS = 50

Body = dict[str, Any]


def message_bodies(
    parts: list[ReplyPart], text: str, channel: str, thread_ts: str | None
) -> list[Body]:
    """Every ``chat.postMessage`` body for one reply, in order; ``text`` when there are no parts."""
    bodies: list[Body] = []
    for part in parts or [{"type": "text", "text": text}]:
        bodies.extend(_render(part))
    where: Body = {"channel": channel, **({"thread_ts": thread_ts} if thread_ts else {})}
    return [{**where, **body} for body in bodies]


def escape(text: str) -> str:
    """Slack's three escapes for message text; ``&`` first so entities are not doubled."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _render(part: ReplyPart) -> list[Body]:
    kind = part.get("type")
    if kind == "quick_replies" and part.get("options"):
        return _quick_replies(part, part["options"])
    if kind == "buttons" and part.get("buttons"):
        return _quick_replies(part, part["buttons"])
    if kind == "card":
        return _card(part)
    if kind == "list" and part.get("items"):
        return _list(part)
    if kind in ("media", "file") and part.get("url") and _is_image(part):
        return [_image(part)]
    return _text(degrade_to_text([part]))


def _text(text: str) -> list[Body]:
    if not text.strip():
        return []
    return [{"text": chunk} for chunk in split_text(escape(text), TEXT_LIMIT)]


def _quick_replies(part: ReplyPart, options: list[dict[str, Any]]) -> list[Body]:
    """Leading text beyond one section goes first as plain messages; the buttons follow the
    last chunk so they stay next to the question they answer."""
    chunks = split_text(escape(part["text"]), SECTION_LIMIT) if part.get("text") else []
    bodies: list[Body] = [{"text": chunk} for chunk in chunks[:-1]]
    question = chunks[-1] if chunks else ""
    blocks = [_section(question)] if question else []
    blocks.extend(_actions(options))
    fallback = question or escape(degrade_to_text([{**part, "text": ""}]))
    bodies.append({"text": truncate(fallback, TEXT_LIMIT), "blocks": blocks})
    return bodies


def _card(part: ReplyPart) -> list[Body]:
    blocks: list[Body] = []
    if part.get("title"):
        text = {"type": "plain_text", "text": truncate(part["title"], HEADER_LIMIT)}
        blocks.append({"type": "header", "text": text})
    if part.get("subtitle"):
        blocks.append(_section(truncate(escape(part["subtitle"]), SECTION_LIMIT)))
    if part.get("image_url"):
        alt = part.get("title") or part.get("subtitle") or "image"
        blocks.append(_image_block(part["image_url"], alt, title=None))
    blocks.extend(_actions(part.get("buttons") or []))
    if not blocks:
        return []
    fallback = escape(degrade_to_text([part]))
    return [{"text": truncate(fallback, TEXT_LIMIT), "blocks": blocks}]


def _list(part: ReplyPart) -> list[Body]:
    blocks: list[Body] = []
    if part.get("text"):
        blocks.append(_section(truncate(escape(part["text"]), SECTION_LIMIT)))
    for item in part["items"]:
        title = str(item.get("title") or item.get("payload") or "")
        lines = [f"*{escape(title)}*" if title else "", escape(str(item.get("subtitle") or ""))]
        section = _section(truncate("\n".join(filter(None, lines)) or " ", SECTION_LIMIT))
        if item.get("image_url"):
            section["accessory"] = _image_element(item["image_url"], title or "image")
        buttons = item.get("buttons") or (
            [{"title": title, "payload": item["payload"]}] if item.get("payload") else []
        )
        blocks += [section, *_actions(buttons)]
    fallback = truncate(escape(degrade_to_text([part])), TEXT_LIMIT)
    if len(blocks) > MAX_BLOCKS:
        return _text(degrade_to_text([part]))
    return [{"text": fallback, "blocks": blocks}]


def _image_element(url: str, alt_text: str) -> Body:
    return {"type": "image", "image_url": url, "alt_text": truncate(alt_text, IMAGE_TEXT_LIMIT)}


def _image(part: ReplyPart) -> Body:
    caption = part.get("caption") or ""
    block = _image_block(part["url"], caption or "image", title=caption or None)
    return {"text": truncate(escape(caption or part["url"]), TEXT_LIMIT), "blocks": [block]}


def _image_block(url: str, alt_text: str, title: str | None) -> Body:
    block: Body = {
        "type": "image",
        "image_url": url,
        "alt_text": truncate(alt_text, IMAGE_TEXT_LIMIT),
    }
    if title:
        block["title"] = {"type": "plain_text", "text": truncate(title, IMAGE_TEXT_LIMIT)}
    return block


def _section(mrkdwn: str) -> Body:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def _actions(options: list[dict[str, Any]]) -> list[Body]:
    """Actions blocks for the buttons, then a section listing the call buttons (Slack cannot
    dial)."""
    calls = [o for o in options if button_action(o) == "call"]
    clickable = [o for o in options if button_action(o) != "call"]
    buttons = [_button(n, option) for n, option in enumerate(clickable, start=1)]
    blocks: list[Body] = [
        {"type": "actions", "elements": buttons[start : start + BUTTONS_PER_BLOCK]}
        for start in range(0, len(buttons), BUTTONS_PER_BLOCK)
    ]
    if calls:
        listed = degrade_to_text([{"type": "buttons", "buttons": calls}])
        blocks.append(_section(truncate(escape(listed), SECTION_LIMIT)))
    return blocks


def _button(n: int, option: dict[str, Any]) -> Body:
    title = option.get("title") or option.get("payload") or option.get("url") or str(n)
    button: Body = {
        "type": "button",
        "action_id": f"option_{n}",
        "text": {"type": "plain_text", "text": truncate(title, BUTTON_TEXT_LIMIT)},
    }
    url = option.get("url")
    if url:
        button["url"] = url
    value = option.get("payload") or (None if url else title)
    if value:
        button["value"] = truncate(value, BUTTON_VALUE_LIMIT)
    return button


def _is_image(part: ReplyPart) -> bool:
    mime_type = part.get("mime_type") or mimetypes.guess_type(urlsplit(part["url"]).path)[0]
    return bool(mime_type) and str(mime_type).startswith("image/")
