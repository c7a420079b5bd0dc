"""The language processor: which language a message is written in, by lingua's own models.

The detector is built lazily, once per process and per set of languages (after the worker
forks, never at import). Texts with too few letters, or where lingua is less sure than the
tenant's ``min_confidence``, take the conversation's last language, else the tenant's
``default`` (English).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from lingua import IsoCode639_1, LanguageDetector, LanguageDetectorBuilder

from processors.base import Kind, ProcessorError, Stage, Work

DEFAULT_LANGUAGES = ("en", "fr", "es", "de", "it", "pt", "nl")
DEFAULT_LANGUAGE = "en"
MIN_LETTERS = 8  # below this lingua guesses more than it detects ("ok", "merci")
MIN_CONFIDENCE = 0.5


def message_language(work: Work) -> str | None:
    """The language the language processor found for this message, if it ran."""
    found = work.results.get("language")
    return found.get("code") if isinstance(found, dict) else None


def iso_codes(options: Any) -> tuple[str, ...]:
    """The tenant's ``languages`` option as sorted lower-case ISO 639-1 codes."""
    codes = options.get("languages") or DEFAULT_LANGUAGES
    if isinstance(codes, str) or not all(isinstance(code, str) for code in codes):
        raise ProcessorError("language: 'languages' must be a list of ISO 639-1 codes")
    return tuple(sorted({code.lower() for code in codes}))


@lru_cache(maxsize=8)
def _detector(codes: tuple[str, ...]) -> LanguageDetector:
    try:
        languages = [IsoCode639_1.from_str(code) for code in codes]
    except ValueError as exc:
        raise ProcessorError(f"language: unknown language code in {list(codes)}") from exc
    builder = LanguageDetectorBuilder.from_iso_codes_639_1(*languages)
    return builder.with_preloaded_language_models().build()


def preload(codes: tuple[str, ...] = DEFAULT_LANGUAGES) -> None:
    """Load lingua's models now, as a worker should after fork: loading them on the first
    message takes seconds, past the processor's timeout."""
    _detector(tuple(sorted(codes)))


class LanguageProcessor:
    name = "language"
    stage = Stage.PROCESSING
    kinds = frozenset({Kind.TEXT, Kind.INTERACTIVE})

    def run(self, work: Work) -> None:
        options = work.options(self.name)
        codes = iso_codes(options)
        min_confidence = float(options.get("min_confidence", MIN_CONFIDENCE))
        code, confidence = self._detect(
            work.text, codes, int(options.get("min_letters", MIN_LETTERS))
        )
        if code is not None and confidence >= min_confidence:
            work.results[self.name] = {"code": code, "confidence": confidence, "source": "detected"}
        elif work.last_language:
            work.results[self.name] = {
                "code": work.last_language.lower(),
                "confidence": 0.0,
                "source": "conversation",
            }
        else:
            default = str(options.get("default") or DEFAULT_LANGUAGE).lower()
            work.results[self.name] = {"code": default, "confidence": 0.0, "source": "default"}

    @staticmethod
    def _detect(text: str, codes: tuple[str, ...], min_letters: int) -> tuple[str | None, float]:
        if sum(ch.isalpha() for ch in text) < min_letters:
            return None, 0.0
        if len(codes) == 1:  # lingua needs two languages to choose between
            return codes[0], 1.0
        values = _detector(codes).compute_language_confidence_values(text)
        if not values:
            return None, 0.0
        best = values[0]
        return best.language.iso_code_639_1.name.lower(), round(best.value, 3)
