"""Clean characters: mojibake repaired (ftfy), Unicode NFC, control characters and runs of
spaces gone, and the text cut to the channel's own character limit."""

from __future__ import annotations

import re
import unicodedata

import ftfy

from processors.base import Kind, Stage, Work

# The most a user can send on each channel (the providers' documented inbound limits; api and
# web are Parley's own POST /v1/messages limit). One table: the content normaliser cuts here.
CHANNEL_LIMITS: dict[str, int] = {
    "api": 4096,
    "web": 4096,
    "whatsapp": 4096,
    "messenger": 2000,
    "slack": 40_000,
    "teams": 28_000,
}
DEFAULT_LIMIT = 4096
# Repairs only: curly quotes, full-width letters and ligatures are what the user wrote, and
# control characters and line breaks are ``clean``'s (so "repaired" means mojibake fixed).
_FIXES = ftfy.TextFixerConfig(
    unescape_html=False,
    remove_control_chars=False,
    fix_line_breaks=False,
    uncurl_quotes=False,
    fix_character_width=False,
    fix_latin_ligatures=False,
    normalization="NFC",
)
_KEPT = frozenset("\n\u200d")  # line breaks, and the joiner inside emoji sequences
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def _visible(text: str) -> str:
    return "".join(
        ch if ch in _KEPT or not unicodedata.category(ch).startswith("C") else " " for ch in text
    )


def clean(text: str) -> str:
    """NFC, no control or format characters, single spaces, at most one blank line."""
    composed = _visible(unicodedata.normalize("NFC", text))
    lines = "\n".join(line.strip() for line in _SPACES.sub(" ", composed).split("\n"))
    return _BLANK_LINES.sub("\n\n", lines).strip()


class ContentNormaliser:
    name = "content"
    stage = Stage.NORMALISATION
    kinds = frozenset({Kind.TEXT, Kind.INTERACTIVE})

    def run(self, work: Work) -> None:
        repaired = ftfy.fix_text(work.text, config=_FIXES)
        text = clean(repaired)
        limit = CHANNEL_LIMITS.get(work.channel, DEFAULT_LIMIT)
        work.results[self.name] = {
            "repaired": repaired != unicodedata.normalize("NFC", work.text),
            "truncated": len(text) > limit,
        }
        work.text = text[:limit]


CONTENT = ContentNormaliser()
