"""The contract an event handler meets to plug into the consumer runtime."""

from __future__ import annotations

from typing import Any, Protocol

from pymongo.database import Database

# A structured CloudEvent as parsed from a record's body (core/cloudevents.py's ``to_dict``).
Event = dict[str, Any]


class Handler(Protocol):
    """One consumer of events.

    ``name`` names its consumer group (``parley.<name>``) and its processed-id records.
    ``events`` are the event types it takes, as glob patterns (``chat.message.*``).
    ``ledger`` is where its applied ids are recorded: ``None`` lets the runtime record each id
    in ``processed_events`` once ``handle`` returns; a collection name says the handler's effect
    is itself one MongoDB document with ``_id`` = ``record_id(name, event id)`` in it, written
    in one update, so the effect and its record can never part (exactly once, not merely
    once-unless-it-crashed; see consumers/apply.py).
    ``handle(event)`` applies the event and raises to fail it (retried, then dead-lettered).
    ``forget(key)`` answers a tombstone: the conversation ``key`` was erased (docs/privacy.md),
    so whatever the handler derived from its events goes too; idempotent, raises to fail.
    """

    @property
    def name(self) -> str: ...

    @property
    def events(self) -> tuple[str, ...]: ...

    @property
    def ledger(self) -> str | None: ...

    def handle(self, event: Event) -> None: ...

    def forget(self, key: str) -> None: ...


class HandlerClass(Protocol):
    """What the registry holds: a handler's class, whose ``name`` and ``events`` are known before
    any is built, and which builds one in the consumer's process from its database."""

    @property
    def name(self) -> str: ...

    @property
    def events(self) -> tuple[str, ...]: ...

    def __call__(self, db: Database[Any]) -> Handler: ...
