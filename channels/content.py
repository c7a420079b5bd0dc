"""Reply content: the parts an engine returns, and the one helper that degrades them to text.

A part is a dict tagged by ``type`` (protos/mcp_engine.proto ``ReplyPart``, read back by
``protos.engine_turn.reply_parts``):

    text           {text}
    quick_replies  {text, options: [Button]}
    media          {url, mime_type, caption}
    card           {title, subtitle, image_url, buttons: [Button]}
    buttons        {text, buttons: [Button]}
    list           {text, button, items: [{title, subtitle, image_url, payload, buttons}]}
    location       {latitude, longitude, name, address}
    file           {url, filename, mime_type, caption}
    template       {name, language, components}  (WhatsApp's template message model)

A Button is a link when it has a ``url``, a call when it has a ``phone``, else a postback of its
``payload``. Each channel renders what its provider can show natively and hands everything else
to ``degrade_to_text``, so a part is never dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

ReplyPart = dict[str, Any]
ButtonAction = Literal["link", "call", "postback"]

MAP_URL = "https://www.google.com/maps/search/?api=1&query={latitude},{longitude}"


def button_action(button: Mapping[str, Any]) -> ButtonAction:
    """What a button does: a ``url`` makes it a link, a ``phone`` a call, else it posts back."""
    if button.get("url"):
        return "link"
    if button.get("phone"):
        return "call"
    return "postback"


def coordinates(part: ReplyPart) -> tuple[float, float] | None:
    """A location part's (latitude, longitude), or None when either is missing or out of range."""
    try:
        latitude, longitude = float(part["latitude"]), float(part["longitude"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return latitude, longitude


def map_link(part: ReplyPart) -> str:
    """A map URL for a location part (how channels without a location message show one); ""
    when it has no usable coordinates."""
    where = coordinates(part)
    if where is None:
        return ""
    return MAP_URL.format(latitude=quote(str(where[0])), longitude=quote(str(where[1])))


def template_texts(part: ReplyPart) -> list[str]:
    """A template's header and body text parameters, in order: what a template says to a user
    on a channel that has no templates."""
    return [
        str(parameter.get("text") or "")
        for component in part.get("components") or []
        if isinstance(component, dict) and component.get("type") in ("header", "body")
        for parameter in component.get("parameters") or []
        if isinstance(parameter, dict) and parameter.get("type") == "text"
    ]


def degrade_to_text(parts: list[ReplyPart]) -> str:
    """Plain text for channels that cannot show rich content; nothing is dropped silently."""
    lines: list[str] = []
    for part in parts:
        lines.extend(_lines(part))
    return "\n".join(line for line in lines if line)


def _lines(part: ReplyPart) -> list[str]:
    kind = part.get("type")
    if kind == "text":
        return [str(part.get("text") or "")]
    if kind == "quick_replies":
        return [str(part.get("text") or ""), *_numbered(part.get("options"))]
    if kind == "buttons":
        return [str(part.get("text") or ""), *_numbered(part.get("buttons"))]
    if kind in ("media", "file"):
        name = part.get("filename") if kind == "file" else None
        return [" ".join(filter(None, [part.get("caption"), name, part.get("url")]))]
    if kind == "card":
        fields = [part.get("title"), part.get("subtitle"), part.get("image_url")]
        return [*map(str, filter(None, fields)), *_numbered(part.get("buttons"))]
    if kind == "list":
        return [str(part.get("text") or ""), *_items(part.get("items"))]
    if kind == "location":
        return [str(part.get("name") or ""), str(part.get("address") or ""), map_link(part)]
    if kind == "template":
        return template_texts(part)
    return [str(part.get("text") or "")]


def _numbered(buttons: Any) -> list[str]:
    """``1. Title https://…`` per button: a link shows its URL, a call its number."""
    return [
        " ".join(filter(None, [f"{n}. {_title(b)}", b.get("url") or b.get("phone")]))
        for n, b in enumerate(_dicts(buttons), start=1)
    ]


def _items(items: Any) -> list[str]:
    lines: list[str] = []
    for n, item in enumerate(_dicts(items), start=1):
        lines.append(" — ".join(filter(None, [f"{n}. {_title(item)}", item.get("subtitle")])))
        lines.extend(filter(None, [item.get("image_url")]))
        lines.extend(f"   {line}" for line in _numbered(item.get("buttons")))
    return lines


def _title(item: dict[str, Any]) -> str:
    return str(item.get("title") or item.get("payload") or "")


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in order, in chunks of at most ``limit`` characters, broken at paragraph,
    line or word boundaries where one falls in the second half of a chunk."""
    if limit < 1:
        raise ValueError("limit must be positive")
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not chunks:
        chunks.append(rest)
    return chunks


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` cut to ``limit`` characters (ellipsis included) where splitting makes no sense,
    such as button titles."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ellipsis))] + ellipsis
