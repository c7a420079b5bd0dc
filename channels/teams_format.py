"""How reply parts become Bot Framework message activities for Teams, one activity per message.

Decisions: text goes as ``textFormat: plain``; quick replies are ``suggestedActions`` (imBack) in
personal chats when there are at most three text-only options (Teams shows only the first
three), otherwise an Adaptive Card. Cards, buttons parts and quick replies elsewhere are Adaptive
Cards of schema 1.5, the version Teams asks of Universal Actions: a postback is
``Action.Execute`` (its ``verb`` and ``data.id`` the payload, ``data.title`` its title), which
Teams sends as an ``adaptiveCard/action`` invoke that the ingress answers with the card
refreshed to show the choice, and which becomes the next turn (channels/teams_invoke.py); its
``fallback`` is an ``Action.Submit`` whose ``msteams`` data is an imBack, so a client without
Universal Actions posts the payload back as the user's own message, as Microsoft advises for
the widest reach. A link is ``Action.OpenUrl``; a call is a line of text, as a card cannot dial.
A list is a carousel (``attachmentLayout: carousel``) of one card per item, up to 10. Images are
attachments by URL with the caption as a following text activity (Teams may split a
text+attachment activity and lose its id); other media and files degrade to text, since Teams
bots cannot post arbitrary files by URL; a location is its map link, and a template degrades to
its text.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from channels.content import ReplyPart, button_action, degrade_to_text, split_text, truncate

# Teams caps an activity at ~100 KB counted in UTF-16 and advises staying under 80 KB; 16,000
# characters stay under 64 KB even if every one is an emoji (two UTF-16 units).
TEXT_LIMIT = 16_000
TITLE_LIMIT = 256
SUBTITLE_LIMIT = 1_024
SUGGESTED_ACTIONS_LIMIT = 3
CAROUSEL_LIMIT = 10
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ADAPTIVE_CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
ADAPTIVE_CARD_VERSION = "1.5"

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
        return _attached([_card(part)])
    if kind == "buttons":
        return _buttons(part)
    if kind == "list":
        return _carousel(part)
    if kind in ("media", "file"):
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
    fits = len(options) <= SUGGESTED_ACTIONS_LIMIT and all(
        button_action(o) == "postback" for o in options
    )
    if personal and last and fits:
        actions = [_button(o) for o in options]
        suggested = {"to": [user_id], "actions": actions}
        return [*leading, {"text": last, "textFormat": "plain", "suggestedActions": suggested}]
    body = [_text_block(last)] if last else []
    return [*leading, *_attached([_adaptive_card(body, options)])]


def _button(option: Mapping[str, Any]) -> dict[str, str]:
    """A suggested action: imBack posts its value as the user's own message, so the payload (or
    the title) is what Parley receives back as text."""
    title = truncate(str(option.get("title") or ""), TITLE_LIMIT)
    return {"type": "imBack", "title": title, "value": str(option.get("payload") or title)}


def _buttons(part: ReplyPart) -> list[Activity]:
    text = str(part.get("text") or "")
    buttons = _titled(part.get("buttons"))
    if not buttons:
        return _text(text)
    return _attached([_adaptive_card([_text_block(text)] if text else [], buttons)])


def _card(part: ReplyPart) -> dict[str, Any] | None:
    body: list[dict[str, Any]] = []
    if part.get("title"):
        title = truncate(str(part["title"]), TITLE_LIMIT)
        body.append(_text_block(title, size="medium", weight="bolder"))
    if part.get("subtitle"):
        body.append(_text_block(truncate(str(part["subtitle"]), SUBTITLE_LIMIT), isSubtle=True))
    if part.get("image_url"):
        body.append({"type": "Image", "url": str(part["image_url"]), "size": "stretch"})
    buttons = _titled(part.get("buttons"))
    if not body and not buttons:
        return None
    return _adaptive_card(body, buttons)


def _carousel(part: ReplyPart) -> list[Activity]:
    items = [i for i in part.get("items") or [] if isinstance(i, dict) and i.get("title")]
    if not 0 < len(items) <= CAROUSEL_LIMIT:
        return _text(degrade_to_text([part]))
    cards = [
        _card({"type": "card", **item} | {"buttons": item.get("buttons") or _own_choice(item)})
        for item in items
    ]
    carousel = _attached(cards)
    for activity in carousel:
        activity["attachmentLayout"] = "carousel"
    return _text(str(part.get("text") or "")) + carousel


def _own_choice(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An item without buttons that answers with its payload gets one button doing that."""
    return [{"title": item["title"], "payload": item["payload"]}] if item.get("payload") else []


def _adaptive_card(body: list[dict[str, Any]], buttons: list[dict[str, Any]]) -> dict[str, Any]:
    calls = [b for b in buttons if button_action(b) == "call"]
    if calls:
        body = [*body, _text_block(degrade_to_text([{"type": "buttons", "buttons": calls}]))]
    content: dict[str, Any] = {
        "$schema": ADAPTIVE_CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "body": body,
    }
    actions = [_action(b) for b in buttons if button_action(b) != "call"]
    if actions:
        content["actions"] = actions
    return {"contentType": ADAPTIVE_CARD, "content": content}


def _action(button: Mapping[str, Any]) -> dict[str, Any]:
    title = truncate(str(button.get("title") or ""), TITLE_LIMIT)
    if button_action(button) == "link":
        return {"type": "Action.OpenUrl", "title": title, "url": str(button["url"])}
    payload = str(button.get("payload") or title)
    imback = {"type": "imBack", "value": payload}
    fallback = {"type": "Action.Submit", "title": title, "data": {"msteams": imback}}
    return {
        "type": "Action.Execute",
        "title": title,
        "verb": payload,
        "data": {"id": payload, "title": title},
        "fallback": fallback,
    }


def _text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _attached(cards: list[dict[str, Any] | None]) -> list[Activity]:
    attachments = [card for card in cards if card is not None]
    return [{"attachments": attachments}] if attachments else []


def _titled(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict) and item.get("title")]


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
