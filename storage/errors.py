"""The errors storage raises besides core's ``NotFound`` and ``Conflict``.

ParleyError (core.errors)
├── NotFound              no such record for this tenant (core.errors)
├── Conflict              the write collides with stored state (core.errors)
│   └── LeaseLost         a lease expired and may be another's: its former owner must stop
└── TransientError (core.errors)
    └── OrderIndexLost    Redis lost the turn order index: rebuild it, then retry
"""

from __future__ import annotations

from core.errors import Conflict, TransientError


class LeaseLost(Conflict):
    """The lease expired and may be another's now: its former owner must not act on it."""


class OrderIndexLost(TransientError):
    """The order index lost its data since it was last rebuilt; rebuild it before trusting it."""
