"""R2 pipeline throughput and R3 end-to-end latency: Parley as shipped (rules engine, WhatsApp
through the provider fake) against the bare four-task chain on the same broker and pools.

Then R2 again at each level of ``PARLEY_BENCH_SCALE``: one worker per queue as shipped, the
chain's four queues at that concurrency (``PARLEY_WORKER_CONCURRENCY``: threads or prefork
processes, the pool the queue has), against the bare chain's workers at the same
(``concurrency_levels``; ``growth``: each level's throughput over the first's). Throughput only.
"""

from __future__ import annotations

from typing import Any

from bench import pipeline, scaling
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
    levels: dict[str, dict[str, Any]] = {}
    for concurrency in session.config.scale:
        label = f"r2, concurrency {concurrency} per queue"
        env = scaling.chain_env(concurrency)
        with session.bare_chain(concurrency), session.parley(label, env=env) as parley:
            level = pipeline.measure(
                session,
                {"parley": (parley, "whatsapp"), "bare": (bare, "chain")},
                conversations,
                with_latency=False,
            )
        levels[str(concurrency)] = {**level, **pipeline.compare(level, "parley", "bare")}
    rates = {
        c: (level["parley"]["r2"]["throughput"], level["bare"]["r2"]["throughput"])
        for c, level in levels.items()
    }
    return {
        "conversations": conversations,
        **figures,
        **pipeline.compare(figures, "parley", "bare"),
        "memory": memory,
        "concurrency_levels": levels,
        "growth": scaling.growth(rates),
    }
