"""The errors the stage tasks raise or record.

ParleyError (core.errors)
└── StageError
    ├── PoisonMessage     a task attempt delivered more often than any healthy worker needs:
    │                     its turn is dead-lettered, never run again
    ├── StoreBusy         the store turned an operation down for a passing reason; the stage
    │                     tries again (core.errors.TransientError)
    └── StreamBroken      the engine's streamed reply ended without its whole response; the
                          stage asks again like after any engine failure (TransientError)
"""

from __future__ import annotations

from core.errors import ParleyError, TransientError


class StageError(ParleyError):
    """Base of the errors a stage task raises itself."""


class PoisonMessage(StageError):
    """The same task attempt was delivered more often than any healthy worker needs."""


class StoreBusy(StageError, TransientError):
    """The store turned an operation down for a passing reason; the stage tries again."""


class StreamBroken(StageError, TransientError):
    """The engine's stream ended before a final chunk carrying the whole reply."""
