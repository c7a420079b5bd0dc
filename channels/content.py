"""Reply content: the parts an engine returns, and the one helper that degrades them to text."""

from __future__ import annotations

from typing import Any

ReplyPart = dict[str, Any]


def degrade_to_text(parts: list[ReplyPart]) -> str:
    """Plain text for channels that cannot show rich content; nothing is dropped silently."""
    lines: list[str] = []
    for part in parts:
        kind = part.get("type")
        if kind == "text":
            lines.append(part["text"])
        elif kind == "quick_replies":
            if part.get("text"):
                lines.append(part["text"])
            lines.extend(
                f"{n}. {option['title']}" for n, option in enumerate(part["options"], start=1)
            )
        elif kind == "media":
            lines.append(" ".join(filter(None, [part.get("caption"), part["url"]])))
        elif kind == "card":
            lines.extend(
                filter(None, [part.get("title"), part.get("subtitle"), part.get("image_url")])
            )
            lines.extend(
                " ".join(filter(None, [f"{n}. {b['title']}", b.get("url")]))
                for n, b in enumerate(part.get("buttons", []), start=1)
            )
    return "\n".join(line for line in lines if line)


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
