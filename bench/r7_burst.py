"""R7, a burst in one conversation: ``PARLEY_BENCH_BURST`` messages from one WhatsApp user
posted at once, timed from the first send until every message was answered at the provider
fake, against the same number of messages from as many users (one each), posted at once on the
same platform: ``r7_ratio`` is the burst's time over the spread load's (target <= 2).

A turn that waits for an earlier turn of its conversation parks until that turn hands over
(tasks/ordering.py), and the messages that wait behind a turn are answered together by the next
(docs/bursts.md): the burst costs a few engine calls, not one a message. A message answered by
a burst's reply counts as delivered when that reply was (bench/loadgen.py reads which messages
each reply answered). Every message must be answered exactly once and in order: each load goes
over one connection, so the ingress accepts the messages in the order of their numbers, and the
fake sees the answers in that order or the scenario fails (``failures``). Task executions per
message are reported against an unhurried turn's (4).
"""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection

from bench import cpu, executions
from bench.session import Session, Target
from bench.stats import median, ratio
from bench.traffic import Traffic
from core.stages import ORDERED

SHAPES = ("burst", "spread")


def _plan(
    session: Session, target: Target, messages: int, conversations: int, window: int
) -> dict[str, Any]:
    return {
        "kind": "pipeline",
        "traffic": session.traffic("whatsapp", target, conversations),
        "fake_port": session.fake_port,
        "messages": messages,
        "warmup": 0,
        "window": window,
        "senders": 1,  # the order the user wrote is the order the ingress accepts
    }


def load(session: Session, target: Target, shape: str, messages: int) -> dict[str, Any]:
    """One load of ``messages``, all at once: from one user (``burst``: one conversation) or
    from as many users (``spread``)."""
    conversations = 1 if shape == "burst" else messages
    plan = _plan(session, target, messages, conversations, messages)
    before, cpu_before = executions.snapshot(), cpu.snapshot(session.stack)
    result = session.load(plan)
    after = executions.settle(before, result["delivered"])
    result["executions"] = executions.per_turn(before, after, messages)
    result["cpu_per_message"] = cpu.per_message(cpu_before, cpu.snapshot(session.stack), messages)
    result["redriven"] = _redriven(session, target, Traffic.from_plan(plan["traffic"]))
    result["failures"] = _failures(result)
    _print(shape, result)
    return result


def _redriven(session: Session, target: Target, traffic: Traffic) -> int:
    """The reconciler's re-drives of the load's turns (each counted on its inbound message)."""
    messages: Collection[dict[str, Any]] = session.mongo[target.database]["messages"]
    users = sorted({traffic.user(i) for i in range(traffic.conversations)})
    found = messages.find({"user_id": {"$in": users}, "direction": "inbound"}, {"redriven": 1})
    return sum(int(doc.get("redriven", 0)) for doc in found)


def _failures(result: dict[str, Any]) -> list[str]:
    """What breaks "every message answered exactly once, in order" in one load."""
    found = {
        "lost": result["lost"],
        "answered twice": result["duplicates"],
        "out of order": result["out_of_order"],
    }
    return [f"{count} {what}" for what, count in found.items() if count]


def _print(shape: str, result: dict[str, Any]) -> None:
    lat, spent = result["latency"], result["executions"]
    verdict = "FAILED: " + ", ".join(result["failures"]) if result["failures"] else "once, in order"
    print(
        f"    R7 {shape:<10} {result['throughput']:8.1f}/s  p50 {lat['p50_ms']:.0f} ms"
        f"  p99 {lat['p99_ms']:.0f} ms  {spent['per_turn']:.2f} executions/turn"
        f" ({result['redriven']} re-driven)"
        f"  cpu {result['cpu_per_message']['total_ms']:.1f} ms/msg"
        f"  {result['together']} answered together  {verdict}",
        flush=True,
    )


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    stages = runs[0]["executions"]["by_stage"]
    return {
        "throughput": median([r["throughput"] for r in runs]),
        "seconds": median([r["seconds"] for r in runs]),
        "together": median([r["together"] for r in runs]),
        "sending_seconds": median([r["sending_seconds"] for r in runs]),
        "p50_ms": median([r["latency"]["p50_ms"] for r in runs]),
        "p99_ms": median([r["latency"]["p99_ms"] for r in runs]),
        "executions_per_turn": median([r["executions"]["per_turn"] for r in runs]),
        "executions_by_stage": {
            s: median([r["executions"]["by_stage"][s] for r in runs]) for s in stages
        },
        "cpu_ms_per_message": median([r["cpu_per_message"]["total_ms"] for r in runs]),
        "redriven": median([r["redriven"] for r in runs]),
        "lost": sum(r["lost"] for r in runs),
        "duplicates": sum(r["duplicates"] for r in runs),
        "out_of_order": sum(r["out_of_order"] for r in runs),
        "runs": runs,
    }


def measure(session: Session) -> dict[str, Any]:
    config = session.config
    messages = config.burst
    runs: dict[str, list[dict[str, Any]]] = {shape: [] for shape in SHAPES}
    with session.parley("r7 burst in one conversation") as target:
        pools = executions.pool_sizes()
        # Warm-up, in a conversation of its own: the first turns of a platform pay its start.
        session.load(_plan(session, target, config.warmup_messages, 1, 1))
        for _ in range(config.burst_repetitions):
            for shape in SHAPES:
                runs[shape].append(load(session, target, shape, messages))
    figures = {shape: _summary(each) for shape, each in runs.items()}
    burst, spread = figures["burst"], figures["spread"]
    failures = [
        f"{shape} {n}: {', '.join(run['failures'])}"
        for shape, each in runs.items()
        for n, run in enumerate(each, 1)
        if run["failures"]
    ]
    # With one thread a stage runs one turn at a time, and no turn would ever wait.
    failures += [f"the {s} worker runs {pools[s]} task at a time" for s in ORDERED if pools[s] < 2]
    return {
        "messages": messages,
        **figures,
        # Time to answer all: the burst's over the spread load's (lower is better).
        "r7_ratio": ratio(burst["seconds"], spread["seconds"]),
        "executions_ratio": ratio(burst["executions_per_turn"], spread["executions_per_turn"]),
        "unhurried_executions": executions.UNHURRIED,
        "pool_sizes": pools,
        "failures": failures,
    }
