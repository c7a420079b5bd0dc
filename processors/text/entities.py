"""The entities processor: emails, links, phone numbers, dates and times, amounts and the
tenant's own patterns, sorted by where they start; of overlapping ones the longest is kept
(on a tie, a tenant pattern wins over the built-in kinds)."""

from __future__ import annotations

from processors.base import Kind, Stage, Work
from processors.text.amounts import find_amounts
from processors.text.contacts import Entity, find_emails, find_phones, find_urls, phone_region
from processors.text.dates import find_datetimes
from processors.text.language import iso_codes, message_language
from processors.text.patterns import find_patterns
from processors.text.spans import without_overlaps


def _date_languages(work: Work) -> list[str]:
    """The message's language when known, else every language the tenant expects."""
    code = message_language(work)
    return [code] if code else list(iso_codes(work.options("language")))


class EntitiesProcessor:
    name = "entities"
    stage = Stage.ENRICHMENT
    kinds = frozenset({Kind.TEXT, Kind.INTERACTIVE})

    def run(self, work: Work) -> None:
        options = work.options(self.name)
        text = work.text
        found: list[Entity] = [
            *find_patterns(text, options.get("patterns")),
            *find_emails(text),
            *find_urls(text),
            *find_phones(text, phone_region(work)),
            *find_amounts(text),
            *find_datetimes(
                text, _date_languages(work), work.created_at, str(options.get("timezone") or "UTC")
            ),
        ]
        work.results[self.name] = without_overlaps(found, lambda e: (e["start"], e["end"]))
