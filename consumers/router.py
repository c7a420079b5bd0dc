"""Which events a handler takes: glob patterns over event types, the topics they subscribe to.

Topics are event types, so a handler subscribes to the regular expressions its patterns make
(a new matching topic joins at the next metadata refresh). It routes each record by its
``ce_type`` header and skips a type its patterns do not take without parsing the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from core.errors import ConfigurationError

# Event types are dotted lowercase names; a pattern adds ``*`` and ``?``.
_PATTERN = re.compile(r"[A-Za-z0-9_.\-*?]+")


def _topic_regex(pattern: str) -> str:
    """``chat.message.*`` → ``^chat\\.message\\..*$``, the subscription librdkafka matches."""
    return "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"


@dataclass(frozen=True)
class Route:
    """A handler's event types."""

    patterns: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.patterns:
            raise ConfigurationError("a handler must take at least one event pattern")
        for pattern in self.patterns:
            if not _PATTERN.fullmatch(pattern):
                raise ConfigurationError(f"event pattern {pattern!r} is not a glob of types")

    def takes(self, event_type: str) -> bool:
        return any(fnmatchcase(event_type, pattern) for pattern in self.patterns)

    def subscription(self) -> list[str]:
        """The topics to subscribe to: a name as it is, a glob as a regular expression."""
        return [
            _topic_regex(pattern) if any(c in pattern for c in "*?") else pattern
            for pattern in self.patterns
        ]
