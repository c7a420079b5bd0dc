"""The errors the stage tasks raise or record.

ParleyError (core.errors)
└── StageError
    ├── PoisonMessage     a task attempt delivered more often than any healthy worker needs:
    │                     its turn is dead-lettered, never run again
    ├── StoreBusy         the store turned an operation down for a passing reason; the stage
    │                     tries again (core.errors.TransientError)
    ├── StreamBroken      the engine's streamed reply ended without its whole response; the
    │                     stage asks again like after any engine failure (TransientError)
    └── MalformedEvent    an event handed to ``tasks.webhooks.fan_out`` lacks its id, type or
                          tenant; retrying cannot help (core.errors.PermanentError)
"""

from __future__ import annotations

from core.errors import ParleyError, PermanentError, TransientError


class StageError(ParleyError):
    """Base of the errors a stage task raises itself."""


class PoisonMessage(StageError):
    """The same task attempt was delivered more often than any healthy worker needs."""


class StoreBusy(StageError, TransientError):
    """The store turned an operation down for a passing reason; the stage tries again."""


class StreamBroken(StageError, TransientError):
    """The engine's stream ended before a final chunk carrying the whole reply."""


class MalformedEvent(StageError, PermanentError):
    """The event lacks what fanning it out needs: ``id``, ``type`` or ``tenantid``."""
