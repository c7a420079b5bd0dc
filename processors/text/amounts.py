"""Amounts of money with their currency: € $ £ or an ISO 4217 code, before or after the
number, with decimal points or commas and grouped thousands ("1 250,50 €", "USD 12.99")."""

from __future__ import annotations

import re

from processors.text.contacts import Entity, entity

_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP"}  # "$" is read as US dollars
_CODES = "EUR|USD|GBP|CHF|JPY|CAD|AUD|NZD|SEK|NOK|DKK|PLN|CZK|HUF|MXN|BRL|INR|CNY|ZAR"
_CURRENCY = rf"[€$£]|\b(?:{_CODES})\b"
_NUMBER = r"\d{1,3}(?:[ \u00a0\u202f.,']\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_AMOUNT = re.compile(
    rf"(?P<before>{_CURRENCY})\s?(?P<number>{_NUMBER})(?![\d.,]?\d)"
    rf"|(?<![\d.,])(?P<number_first>{_NUMBER})\s?(?P<after>{_CURRENCY})"
)
_DECIMALS = re.compile(r"[.,](\d{1,2})$")


def _decimal(number: str) -> str:
    """The number as a plain decimal string: separators dropped, a decimal comma read as a
    point ("1.250,50" -> "1250.50")."""
    decimals = _DECIMALS.search(number)
    whole = number[: decimals.start()] if decimals else number
    digits = re.sub(r"\D", "", whole)
    return f"{int(digits)}.{decimals.group(1)}" if decimals else str(int(digits))


def find_amounts(text: str) -> list[Entity]:
    found = []
    for match in _AMOUNT.finditer(text):
        number = match.group("number") or match.group("number_first")
        currency = match.group("before") or match.group("after")
        value = {"amount": _decimal(number), "currency": _SYMBOLS.get(currency, currency)}
        found.append(entity("amount", text, match.start(), match.end(), value))
    return found
