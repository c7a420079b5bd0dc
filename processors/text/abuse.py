"""Abuse, profanity and prompt-injection attempts: the project's own small lists in English,
French, Spanish, German and Italian, matched on word boundaries and through the common
obfuscations (leetspeak, repeated letters, a separator or an asterisk between letters).

The lists are ours rather than ``better-profanity``'s because that one is English only and its
lists flag words by substring; a tenant that needs more sets the category to ``flag`` and lets
the engine judge.
"""

from __future__ import annotations

import re

ABUSE = {
    "en": ("idiot", "moron", "stupid", "asshole", "bastard", "bitch", "loser", "retard", "dumbass"),
    "fr": ("connard", "connasse", "imbecile", "cretin", "abruti", "salope", "debile"),
    "es": ("idiota", "imbecil", "estupido", "gilipollas", "cabron", "pendejo"),
    "de": ("arschloch", "vollidiot", "depp", "wichser", "schlampe", "blodmann"),
    "it": ("stronzo", "cretino", "coglione"),
}
PROFANITY = {
    "en": ("fuck", "fucking", "fucked", "shit", "crap", "damn"),
    "fr": ("merde", "putain", "bordel"),
    "es": ("mierda", "joder", "puta"),
    "de": ("scheisse", "scheiße", "verdammt"),
    "it": ("cazzo", "merda", "vaffanculo"),
}
INJECTION = (
    # en
    r"\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+|your\s+)?"
    r"(?:previous|prior|above|earlier)\s+(?:instructions|prompts|rules)",
    r"\byou\s+are\s+now\b",
    r"\bsystem\s+prompt\b",
    r"\bdeveloper\s+mode\b",
    # fr
    r"\b(?:ignore|oublie)z?\s+(?:toutes\s+)?(?:les\s+|tes\s+|vos\s+)?instructions"
    r"(?:\s+(?:pr[ée]c[ée]dentes|ant[ée]rieures))?",
    r"\b(?:tu\s+es|vous\s+[êe]tes)\s+maintenant\b",
    r"\b(?:prompt|invite)\s+syst[èe]me\b",
    r"\bmode\s+d[ée]veloppeur\b",
    # es
    r"\b(?:ignora|olvida)r?\s+(?:todas\s+)?(?:las\s+|tus\s+)?instrucciones"
    r"(?:\s+(?:anteriores|previas))?",
    r"\bahora\s+eres\b",
    r"\bprompt\s+del\s+sistema\b",
    r"\bmodo\s+desarrollador\b",
    # de
    r"\b(?:ignoriere|vergiss)\s+(?:alle\s+)?(?:vorherigen|bisherigen|deine)\s+"
    r"(?:anweisungen|instruktionen)",
    r"\bdu\s+bist\s+(?:jetzt|nun)\b",
    r"\bsystem-?prompt\b",
    r"\bentwicklermodus\b",
)

_LOOKALIKES = {
    "a": "aàáâä@4*",
    "e": "eéèêë3*",
    "i": "iíìîï1!|*",
    "o": "oóòôö0*",
    "u": "uúùûü*",
    "s": "s$5",
    "t": "t7",
    "l": "l1|",
    "n": "nñ",
    "c": "cç",
}


def _obfuscated(word: str) -> str:
    letters = (f"[{re.escape(_LOOKALIKES.get(ch, ch))}]+" for ch in word)
    return "[*._-]?".join(letters) + "(?:e?s)?"  # a plural is the same word


def _word_list(by_language: dict[str, tuple[str, ...]]) -> re.Pattern[str]:
    words = sorted({w for words in by_language.values() for w in words}, key=len, reverse=True)
    alternatives = "|".join(_obfuscated(w) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


_PATTERNS = {
    "abuse": _word_list(ABUSE),
    "profanity": _word_list(PROFANITY),
    "prompt_injection": re.compile("|".join(INJECTION), re.IGNORECASE),
}


def find_conduct(text: str) -> list[tuple[str, int, int]]:
    """Each abusive or profane word and injection attempt as (category, start, end)."""
    return [
        (category, match.start(), match.end())
        for category, pattern in _PATTERNS.items()
        for match in pattern.finditer(text)
    ]
