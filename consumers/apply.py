"""Applying one event to one handler at most once, by its CloudEvents ``id``.

Why a redelivery is harmless (the exactly-once reasoning). Kafka delivers at least once: the
runtime commits a record's offset only after its effect is durable, so a consumer that dies
before the commit leaves the record to be read again. Before handling, the runtime asks the
handler's ledger whether ``<handler>:<id>`` is recorded, and skips the event if so; after
handling, the record is written. Two cases remain for a process killed mid-event:

- the handler keeps its own ledger (``Handler.ledger``): its effect *is* the record, one
  MongoDB document updated atomically, so either both exist (the redelivery is skipped) or
  neither does (it is applied now): exactly once;
- the runtime keeps the record (``processed_events``): it is written after the effect, so a
  crash between the two re-applies that one event; such a handler's effect must tolerate a
  repeat of the same id (an upsert keyed by it, a provider's idempotency key).

Ids are deterministic per fact (core/chat_events.py), so the outbox relay publishing an event
twice is the same redelivery and is dropped the same way.
"""

from __future__ import annotations

from consumers.handler import Event, Handler
from storage.event_ledger import ProcessedEvents


def apply_once(handler: Handler, event: Event, processed: ProcessedEvents) -> bool:
    """Hand ``event`` to ``handler`` unless it already applied it; whether it did so now.
    ``processed`` must be the handler's ledger; a handler's error propagates."""
    event_id = str(event["id"])
    if processed.seen(handler.name, event_id):
        return False
    handler.handle(event)
    if handler.ledger is None:
        processed.record(handler.name, event_id, str(event.get("type", "")))
    return True
