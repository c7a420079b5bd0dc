"""Message-type detection on normalised text."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

_URL = re.compile(r"https?://\S+", re.IGNORECASE)


class MessageType(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    LINK = "link"
    EMOJI = "emoji"
    EMPTY = "empty"


def _is_emoji_only(text: str) -> bool:
    symbols = [ch for ch in text if not ch.isspace()]
    return bool(symbols) and all(
        unicodedata.category(ch) in ("So", "Sk", "Mn", "Cf") or ch == "\u200d" for ch in symbols
    )


def detect_type(normalized: str) -> MessageType:
    if not normalized:
        return MessageType.EMPTY
    if normalized.startswith("/") and len(normalized) > 1 and not normalized[1].isspace():
        return MessageType.COMMAND
    if _is_emoji_only(normalized):
        return MessageType.EMOJI
    if _URL.search(normalized):
        return MessageType.LINK
    return MessageType.TEXT
