"""Text normalisation: Unicode NFC, no control characters, collapsed whitespace."""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """The text as the engine should read it; the original stays on the message."""
    composed = unicodedata.normalize("NFC", text)
    visible = "".join(
        ch if not unicodedata.category(ch).startswith("C") or ch in "\n\t" else " "
        for ch in composed
    )
    return _WHITESPACE.sub(" ", visible).strip()
