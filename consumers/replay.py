"""``parley events dlq list|replay``: the parked events, and handing them back to their handler.

A replay applies a parked event through the same ledger as the consumer (consumers/apply.py),
so replaying it twice, or replaying one the consumer applied meanwhile, applies it once. Each
replayed record is marked in ``event_dlq_replays`` (by topic, partition and offset) with how
it went, which ``list`` shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pymongo.database import Database

from consumers.apply import apply_once
from consumers.dead_letters import ParkedEvent, describe, read_parked
from consumers.errors import UnknownHandler
from consumers.handler import Handler
from consumers.records import parse
from consumers.registry import handler_class
from storage.event_ledger import DeadLetterReplays, ProcessedEvents

APPLIED, ALREADY_APPLIED, FAILED = "applied", "already applied", "failed"


def listing(db: Database[Any], bootstrap: str, topic: str) -> Iterator[dict[str, Any]]:
    """One summary per parked record, oldest first per partition."""
    replayed = DeadLetterReplays(db).replayed(topic)
    for parked in read_parked(bootstrap, topic):
        yield {
            "id": parked.event_id,
            "type": parked.headers.get("ce_type"),
            "handler": parked.handler,
            "error": parked.headers.get("parley_error"),
            "time": parked.headers.get("ce_time"),
            "failed_at": parked.headers.get("parley_failed_at"),
            "partition": parked.partition,
            "offset": parked.offset,
            "replayed": DeadLetterReplays.key(topic, parked.partition, parked.offset) in replayed,
        }


def replay(
    db: Database[Any],
    bootstrap: str,
    topic: str,
    handler: str | None = None,
    event_id: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Hand each parked record (of ``handler``, of ``event_id``, or all) back to its handler;
    one outcome per record."""
    replays = DeadLetterReplays(db)
    handlers: dict[str, Handler] = {}
    for parked in read_parked(bootstrap, topic):
        if handler is not None and parked.handler != handler:
            continue
        if event_id is not None and parked.event_id != event_id:
            continue
        outcome: dict[str, Any] = {
            "id": parked.event_id,
            "handler": parked.handler,
            "partition": parked.partition,
            "offset": parked.offset,
        }
        try:
            target = handlers.get(parked.handler)
            if target is None:
                target = handlers[parked.handler] = handler_class(parked.handler)(db)
            outcome["outcome"] = _apply(target, parked, db)
        except UnknownHandler as exc:
            outcome.update(outcome=FAILED, error=str(exc))
        except Exception as exc:  # the record stays parked, unmarked, for a later replay
            outcome.update(outcome=FAILED, error=describe(exc))
        if outcome["outcome"] != FAILED:
            replays.mark(topic, parked.partition, parked.offset, parked.handler, outcome["outcome"])
        yield outcome


def _apply(target: Handler, parked: ParkedEvent, db: Database[Any]) -> str:
    applied = apply_once(target, parse(parked.value), ProcessedEvents(db, target.ledger))
    return APPLIED if applied else ALREADY_APPLIED
