"""R2 pipeline throughput and R3 end-to-end latency: Parley as shipped (rules engine, WhatsApp
through the provider fake) against the bare four-task chain on the same broker and pools."""

from __future__ import annotations

from typing import Any

from bench import pipeline
from bench.session import Session, Target


def measure(session: Session, bare: Target) -> dict[str, Any]:
    conversations = session.config.conversations
    with session.parley("r2 as shipped") as parley:
        mark = session.stack.mark()
        figures = pipeline.measure(
            session,
            {"parley": (parley, "whatsapp"), "bare": (bare, "chain")},
            conversations,
            profile="r2",
        )
        memory = session.stack.memory_since(mark)
    return {
        "conversations": conversations,
        **figures,
        **pipeline.compare(figures, "parley", "bare"),
        "memory": memory,
    }
