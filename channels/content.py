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
