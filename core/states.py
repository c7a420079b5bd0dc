"""The message state machine: statuses only ever move forward.

Inbound messages go accepted → processed → generated → delivered → completed; bot replies go
generated → sending → sent → delivered → read. ``failed`` and ``dead_lettered`` are terminal.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    ACCEPTED = "accepted"
    PROCESSED = "processed"
    GENERATED = "generated"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"


_ORDER = [
    Status.ACCEPTED,
    Status.PROCESSED,
    Status.GENERATED,
    Status.SENDING,
    Status.SENT,
    Status.DELIVERED,
    Status.READ,
    Status.COMPLETED,
]
TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.DEAD_LETTERED})


def predecessors(target: Status) -> list[str]:
    """The statuses a message may be in for a move to ``target`` to be allowed."""
    if target in (Status.FAILED, Status.DEAD_LETTERED):
        return [s.value for s in _ORDER if s not in TERMINAL]
    return [s.value for s in _ORDER[: _ORDER.index(target)]]
