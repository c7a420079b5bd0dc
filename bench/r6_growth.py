"""R6, cost as work grows: R2 and R3 again with many messages already stored (each size on a
database seeded first), and with few against many concurrent conversations.

Stored history must not slow a turn: every query a stage makes is bounded by the history
window, not by the collection (on FerretDB v1, by ``_id`` lookups alone).
"""

from __future__ import annotations

from typing import Any

from bench import pipeline
from bench.session import Session


def measure(session: Session) -> dict[str, Any]:
    config = session.config
    result: dict[str, Any] = {"stored": {}, "conversations": {}}
    for stored in config.stored:
        with session.parley(f"r6 {stored} stored", stored=stored) as target:
            figures = pipeline.measure(
                session, {"parley": (target, "whatsapp")}, config.conversations
            )
        result["stored"][str(stored)] = {
            **figures["parley"],
            "seeding_seconds": round(getattr(session, "seeding_seconds", 0.0), 1),
        }
    for conversations in config.few_many:
        with session.parley(f"r6 {conversations} conversations") as target:
            figures = pipeline.measure(session, {"parley": (target, "whatsapp")}, conversations)
        result["conversations"][str(conversations)] = figures["parley"]
    return result
