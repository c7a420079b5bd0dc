"""The event types Parley publishes, and the patterns webhook subscriptions name them by.

A pattern is a dot-separated type whose segments may be ``*``, which stands for exactly one
segment: ``chat.message.*`` is every message event, ``*.*.failed`` every failure. A pattern
must match at least one type below, so a misspelt one is refused instead of receiving nothing.
"""

from __future__ import annotations

import re

MESSAGE_RECEIVED = "chat.message.received"
MESSAGE_SENT = "chat.message.sent"
MESSAGE_DELIVERED = "chat.message.delivered"
MESSAGE_READ = "chat.message.read"
MESSAGE_FAILED = "chat.message.failed"
CONVERSATION_STARTED = "chat.conversation.started"
CONVERSATION_UPDATED = "chat.conversation.updated"
CONVERSATION_ENDED = "chat.conversation.ended"
SYSTEM_HEALTH = "system.health"
SYSTEM_ERROR = "system.error"
SYSTEM_PERFORMANCE = "system.performance"
WEBHOOK_RECEIVED = "integration.webhook.received"
API_CALLED = "integration.api.called"
AUTH = "integration.auth"
CHANNEL_INSTALLED = "integration.channel.installed"
CHANNEL_UNINSTALLED = "integration.channel.uninstalled"
CHANNEL_MEMBERS_CHANGED = "integration.channel.members_changed"
MEETING_STARTED = "integration.meeting.started"
MEETING_ENDED = "integration.meeting.ended"

EVENT_TYPES = (
    MESSAGE_RECEIVED,
    MESSAGE_SENT,
    MESSAGE_DELIVERED,
    MESSAGE_READ,
    MESSAGE_FAILED,
    CONVERSATION_STARTED,
    CONVERSATION_UPDATED,
    CONVERSATION_ENDED,
    SYSTEM_HEALTH,
    SYSTEM_ERROR,
    SYSTEM_PERFORMANCE,
    WEBHOOK_RECEIVED,
    API_CALLED,
    AUTH,
    CHANNEL_INSTALLED,
    CHANNEL_UNINSTALLED,
    CHANNEL_MEMBERS_CHANGED,
    MEETING_STARTED,
    MEETING_ENDED,
)
_SEGMENT = re.compile(r"^(\*|[a-z0-9_]+)$")


def matches(pattern: str, event_type: str) -> bool:
    wanted, given = pattern.split("."), event_type.split(".")
    return len(wanted) == len(given) and all(
        w in ("*", g) for w, g in zip(wanted, given, strict=True)
    )


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is refused, or None when it names at least one event type."""
    if not all(_SEGMENT.match(segment) for segment in pattern.split(".")):
        return f"{pattern!r} is not a dot-separated event type (segments a-z, 0-9, _ or *)"
    if not any(matches(pattern, event_type) for event_type in EVENT_TYPES):
        return f"{pattern!r} matches no event type Parley publishes"
    return None
