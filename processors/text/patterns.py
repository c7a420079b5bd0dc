"""The tenant's own entity patterns (order numbers, booking codes), compiled once per config.

Tenant regexes run on the ``regex`` module with a timeout, so a pattern that backtracks without
end fails this processor instead of holding the worker; each pattern is bounded in length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import regex

from processors.base import ProcessorError
from processors.text.contacts import Entity, entity

MAX_PATTERNS = 20
MAX_PATTERN_LENGTH = 200
MATCH_TIMEOUT_SECONDS = 0.05
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
BUILT_IN_TYPES = frozenset({"email", "url", "phone", "datetime", "amount"})


@lru_cache(maxsize=256)
def _compiled(spec: tuple[tuple[str, str], ...]) -> tuple[tuple[str, regex.Pattern[str]], ...]:
    compiled = []
    for name, source in spec:
        try:
            compiled.append((name, regex.compile(source)))
        except regex.error as exc:
            raise ProcessorError(f"entities: pattern {name!r} is not a valid regex") from exc
    return tuple(compiled)


def _spec(patterns: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(patterns, list) or len(patterns) > MAX_PATTERNS:
        raise ProcessorError(f"entities: 'patterns' must be a list of at most {MAX_PATTERNS}")
    spec = []
    for pattern in patterns:
        name = pattern.get("name") if isinstance(pattern, Mapping) else None
        source = pattern.get("regex") if isinstance(pattern, Mapping) else None
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name in BUILT_IN_TYPES:
            raise ProcessorError(
                f"entities: pattern name {name!r} is not a lower-case name of ours"
            )
        if not isinstance(source, str) or not 0 < len(source) <= MAX_PATTERN_LENGTH:
            raise ProcessorError(
                f"entities: pattern {name!r} needs a regex of 1 to {MAX_PATTERN_LENGTH} characters"
            )
        spec.append((name, source))
    return tuple(spec)


def find_patterns(text: str, patterns: Any) -> list[Entity]:
    """Each match of each tenant pattern; the value is its first group when it has one."""
    found = []
    for name, pattern in _compiled(_spec(patterns or [])):
        try:
            for match in pattern.finditer(text, timeout=MATCH_TIMEOUT_SECONDS):
                if match.end() > match.start():
                    value = match.group(1) if pattern.groups and match.group(1) else match.group()
                    found.append(entity(name, text, match.start(), match.end(), value))
        except TimeoutError as exc:
            raise ProcessorError(f"entities: pattern {name!r} ran out of time") from exc
    return found
