"""Dates and times in a message, read by dateparser relative to when the message was written.

``search_dates`` reads short words as dates ("je" for jeudi, "ma" for mardi) and plain numbers
as years ("commande 1234"): a match counts only when it holds a date-like token and lands
within a plausible century of the message.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateparser.search import search_dates

from processors.base import ProcessorError
from processors.text.contacts import Entity, entity

# a time (10h, 10:30, 3pm), a numeric date (12/05, 2025-03-14) or a word of four letters or more
_DATE_LIKE = re.compile(
    r"\d{1,2}\s*(?:h|:|am\b|pm\b|uhr\b)|\d{1,4}[/.-]\d{1,2}|[^\W\d_]{4,}", re.IGNORECASE
)
_PLAUSIBLE_YEARS = 100


def find_datetimes(
    text: str, languages: list[str], created_at: datetime, zone: str
) -> list[Entity]:
    """Each date or time in ``text`` as an ISO 8601 value in the tenant's time zone."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ProcessorError(f"entities: unknown time zone {zone!r}") from exc
    base = (created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)).astimezone(tz)
    settings = {
        "RELATIVE_BASE": base.replace(tzinfo=None),
        "PREFER_DATES_FROM": "future",
        "TIMEZONE": zone,
        "RETURN_AS_TIMEZONE_AWARE": True,
    }
    try:
        matches = search_dates(text, languages=languages, settings=settings) or []
    except ValueError as exc:  # a language dateparser does not know
        raise ProcessorError(f"entities: dateparser cannot read {languages}") from exc
    found: list[Entity] = []
    cursor = 0
    for matched, when in matches:
        start = text.find(matched, cursor)
        if start < 0:
            continue
        cursor = start + len(matched)
        if _DATE_LIKE.search(matched) and abs(when.year - base.year) <= _PLAUSIBLE_YEARS:
            found.append(entity("datetime", text, start, cursor, when.isoformat()))
    return found
