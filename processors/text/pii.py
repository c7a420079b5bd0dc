"""Card numbers and IBANs in a message, each checked by its own checksum (Luhn, ISO 7064
mod 97-10), so an order number or a reference of the same length is not taken for one."""

from __future__ import annotations

import re
from collections.abc import Callable

_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?!\d)")
_IBAN = re.compile(r"(?<![A-Z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Z0-9])", re.IGNORECASE)
_SEPARATORS = re.compile(r"[ -]")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0 and len(set(digits)) > 1  # all zeros passes Luhn, is no card


def iban_valid(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    return 15 <= len(compact) <= 34 and int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _longest_valid(
    text: str, pattern: re.Pattern[str], valid: Callable[[str], bool], min_length: int
) -> list[tuple[int, int]]:
    """Each candidate cut at its last separators until the rest passes the checksum: a card
    or IBAN may be followed by more digits or words that the candidate swallowed."""
    spans = []
    for match in pattern.finditer(text):
        candidate = match.group()
        ends = [len(candidate), *(m.start() for m in _SEPARATORS.finditer(candidate))]
        for end in sorted(set(ends), reverse=True):
            compact = _SEPARATORS.sub("", candidate[:end]).upper()
            if len(compact) >= min_length and valid(compact):
                spans.append((match.start(), match.start() + end))
                break
    return spans


def find_cards(text: str) -> list[tuple[int, int]]:
    return _longest_valid(text, _CARD, luhn_valid, 13)


def find_ibans(text: str) -> list[tuple[int, int]]:
    return _longest_valid(text, _IBAN, iban_valid, 15)
