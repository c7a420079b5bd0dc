"""The errors the consumer runtime raises (drawn in the package docstring)."""

from __future__ import annotations

from core.errors import ParleyError


class ConsumerError(ParleyError):
    """The consumer cannot go on."""


class UnknownHandler(ConsumerError):
    """No handler of that name in the registry."""


class DeadLetterFailed(ConsumerError):
    """Kafka did not acknowledge an event parked on the dead-letter topic: its offset must not
    move on, so the consumer stops and the event is read again by the next one."""
