"""Emails, links and phone numbers in a message's text: found once here for the entities and
the safety processors."""

from __future__ import annotations

import re
from typing import Any, TypedDict
from urllib.parse import urlsplit

import phonenumbers

from processors.base import Work


class Entity(TypedDict):
    """One thing found in the text: ``text`` is ``work.text[start:end]``."""

    type: str
    text: str
    value: Any
    start: int
    end: int


_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_URL_TRAILER = ".,;:!?)]}'\""  # punctuation that ends a sentence, not the link
_WHATSAPP_USER = re.compile(r"\d{6,15}")  # a WhatsApp user id is an E.164 number without "+"


def entity(kind: str, text: str, start: int, end: int, value: Any) -> Entity:
    return {"type": kind, "text": text[start:end], "value": value, "start": start, "end": end}


def find_emails(text: str) -> list[Entity]:
    return [
        entity("email", text, m.start(), m.end(), m.group().lower()) for m in _EMAIL.finditer(text)
    ]


def find_urls(text: str) -> list[Entity]:
    found = []
    for match in _URL.finditer(text):
        url = match.group().rstrip(_URL_TRAILER)
        absolute = url if "://" in url else "http://" + url
        found.append(entity("url", text, match.start(), match.start() + len(url), absolute))
    return found


def link_host(url: str) -> str:
    """The host a link points at, lower case, without port or trailing dot."""
    return (urlsplit(url).hostname or "").rstrip(".")


def find_phones(text: str, region: str | None) -> list[Entity]:
    """Valid phone numbers; without a region only international (+...) numbers are found."""
    matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
    return [
        entity(
            "phone",
            text,
            match.start,
            match.end,
            phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164),
        )
        for match in matcher
    ]


def phone_region(work: Work) -> str | None:
    """The region national phone numbers are read in: the tenant's ``entities.region``, else
    the one of the user's own number where the channel's user id is one (WhatsApp)."""
    region = work.options("entities").get("region")
    if isinstance(region, str) and region:
        return region.upper()
    user_id = str(work.metadata.get("user_id") or "")
    if work.channel == "whatsapp" and _WHATSAPP_USER.fullmatch(user_id):
        try:
            number = phonenumbers.parse("+" + user_id)
        except phonenumbers.NumberParseException:
            return None
        # the country code's main region: +1 is the US, +44 GB, even for a number not yet valid
        derived = phonenumbers.region_code_for_country_code(number.country_code or 0)
        return derived if derived != phonenumbers.UNKNOWN_REGION else None
    return None
