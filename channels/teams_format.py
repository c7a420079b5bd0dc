"""How reply parts become Bot Framework message activities for Teams, one activity per message.

Decisions: text goes as ``textFormat: plain``; quick replies are ``suggestedActions`` (imBack) in
personal chats when there are at most three text-only options (Teams shows only the first
three), otherwise a hero card with imBack/openUrl buttons; cards are hero cards (they render
on every Teams client and carry image, title, subtitle and buttons, which is all a card part
has); images are attachments by URL with the caption as a following text activity (Teams may
split a text+attachment activity and lose its id); other media degrade to text, since Teams
bots cannot post arbitrary files by URL.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from channels.content import ReplyPart, degrade_to_text, split_text, truncate

# Teams caps an activity at ~100 KB counted in UTF-16 and advises staying under 80 KB; 16,000
# characters stay under 64 KB even if every one is an emoji (two UTF-16 units).
TEXT_LIMIT = 16_000
TITLE_LIMIT = 256
SUBTITLE_LIMIT = 1_024
SUGGESTED_ACTIONS_LIMIT = 3
HERO_CARD = "application/vnd.microsoft.card.hero"

Activity = dict[str, Any]


def activities(
    parts: list[ReplyPart], text: str, reply_to: Mapping[str, Any], recipient: str
) -> list[Activity]:
    """The activities answering ``reply_to``, in order; ``text`` is sent when ``parts`` is
    empty. Each is complete (from, recipient, conversation, replyToId)."""
    envelope = _envelope(reply_to, recipient)
    personal = reply_to.get("conversation_type") == "personal"
    user_id = str(reply_to.get("user_id") or recipient)
    bodies: list[Activity] = []
    for part in parts or [{"type": "text", "text": text}]:
        bodies.extend(_bodies(part, personal, user_id))
    return [{**envelope, **body} for body in bodies]


def typing_activity(reply_to: Mapping[str, Any], recipient: str) -> Activity:
    """The ``typing`` activity that shows the bot at work in ``reply_to``'s conversation."""
    envelope = _envelope(reply_to, recipient)
    envelope.pop("replyToId", None)  # typing belongs to the conversation, not to a message
    return {**envelope, "type": "typing"}


def _envelope(reply_to: Mapping[str, Any], recipient: str) -> Activity:
    activity: Activity = {
        "type": "message",
        "from": _account(reply_to.get("bot_id"), reply_to.get("bot_name")),
        "conversation": {"id": reply_to["conversation_id"]},
    }
    user_id = reply_to.get("user_id") or recipient
    if user_id:
        activity["recipient"] = _account(user_id, reply_to.get("user_name"))
    if reply_to.get("activity_id"):
        activity["replyToId"] = reply_to["activity_id"]
    return activity


def _account(account_id: Any, name: Any) -> dict[str, str]:
    account = {"id": str(account_id or "")}
    if name:
        account["name"] = str(name)
    return account


def _bodies(part: ReplyPart, personal: bool, user_id: str) -> list[Activity]:
    kind = part.get("type")
    if kind == "text":
        return _text(str(part.get("text") or ""))
    if kind == "quick_replies":
        return _quick_replies(part, personal, user_id)
    if kind == "card":
        return _card(part)
    if kind == "media":
        return _media(part)
    return _text(degrade_to_text([part]))


def _text(text: str) -> list[Activity]:
    if not text.strip():
        return []
    return [{"text": chunk, "textFormat": "plain"} for chunk in split_text(text, TEXT_LIMIT)]


def _quick_replies(part: ReplyPart, personal: bool, user_id: str) -> list[Activity]:
    options = [o for o in part.get("options") or [] if o.get("title")]
    text = str(part.get("text") or "")
    if not options:
        return _text(text)
    chunks = split_text(text, TEXT_LIMIT) if text.strip() else [""]
    leading = [{"text": chunk, "textFormat": "plain"} for chunk in chunks[:-1]]
    last = chunks[-1]
    fits = len(options) <= SUGGESTED_ACTIONS_LIMIT and not any(o.get("url") for o in options)
    if personal and last and fits:
        actions = [_button(o) for o in options]
        suggested = {"to": [user_id], "actions": actions}
        return [*leading, {"text": last, "textFormat": "plain", "suggestedActions": suggested}]
    card: dict[str, Any] = {"buttons": [_button(o) for o in options]}
    if last:
        card["text"] = last
    return [*leading, {"attachments": [{"contentType": HERO_CARD, "content": card}]}]


def _button(option: Mapping[str, Any]) -> dict[str, str]:
    """imBack posts its value as the user's own message, so the payload (or the title) is
    what Parley receives back as text; links open instead."""
    title = truncate(str(option.get("title") or ""), TITLE_LIMIT)
    if option.get("url"):
        return {"type": "openUrl", "title": title, "value": str(option["url"])}
    return {"type": "imBack", "title": title, "value": str(option.get("payload") or title)}


def _card(part: ReplyPart) -> list[Activity]:
    card: dict[str, Any] = {}
    if part.get("title"):
        card["title"] = truncate(str(part["title"]), TITLE_LIMIT)
    if part.get("subtitle"):
        card["subtitle"] = truncate(str(part["subtitle"]), SUBTITLE_LIMIT)
    if part.get("image_url"):
        card["images"] = [{"url": str(part["image_url"])}]
    buttons = [_button(b) for b in part.get("buttons") or [] if b.get("title")]
    if buttons:
        card["buttons"] = buttons
    if not card:
        return []
    return [{"attachments": [{"contentType": HERO_CARD, "content": card}]}]


def _media(part: ReplyPart) -> list[Activity]:
    url = str(part.get("url") or "")
    caption = str(part.get("caption") or "")
    mime_type = str(part.get("mime_type") or mimetypes.guess_type(urlsplit(url).path)[0] or "")
    if not url or not mime_type.startswith("image/"):
        return _text(degrade_to_text([part]) if url else caption)
    attachment = {"contentType": mime_type, "contentUrl": url}
    name = str(part.get("filename") or PurePosixPath(urlsplit(url).path).name)
    if name:
        attachment["name"] = name
    return [{"attachments": [attachment]}, *_text(caption)]
