"""The turn's language, as the processing pipeline found it (``request.processing.language``)."""

from __future__ import annotations

import re

from protos import mcp_engine_pb2

_CODE = re.compile(r"[a-z]{2,3}")  # an ISO 639 code; anything else is not a language we name

# Names for the system note of the openai backend; other codes are named by their code.
LANGUAGE_NAMES = {
    "ar": "Arabic", "de": "German", "en": "English", "es": "Spanish", "fr": "French",
    "hi": "Hindi", "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch",
    "pl": "Polish", "pt": "Portuguese", "ru": "Russian", "sv": "Swedish", "tr": "Turkish",
    "uk": "Ukrainian", "zh": "Chinese",
}  # fmt: skip


def turn_language(request: mcp_engine_pb2.GenerateRequest) -> str | None:
    """The turn's language code ("fr" also for "fr-CA"); None when processing found none."""
    code = request.processing.language.strip().lower().replace("_", "-").split("-")[0]
    return code if _CODE.fullmatch(code) else None


def language_name(code: str) -> str:
    """How a prompt names the language: "French", or the language with code "xx"."""
    return LANGUAGE_NAMES.get(code) or f'the language whose ISO 639 code is "{code}"'
