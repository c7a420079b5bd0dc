"""R1, ingress acceptance: signed WhatsApp webhooks and ``POST /v1/messages`` accepted per
second at a fixed concurrency, and their latency, against the bare LPUSH route fed the very
same bodies.

Parley's ingress runs without workers here, so the two cores go to the ingress and the load;
the chains it enqueues wait in the broker and are dropped with the database afterwards. Parley
and the baseline run side by side and are measured in turns, so drift on a shared machine
touches both alike.

Each level of ``PARLEY_BENCH_SCALE`` is a platform start with that many ingress processes
(``PARLEY_INGRESS_WORKERS``) against the bare route served by as many uvicorn workers
(``processes`` in the result, ``growth`` each level's rates over the first's); the first level's
figures are R1's headline.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from bench import scaling
from bench.session import Session, Target
from bench.stats import median, ratio

ROUTES = (("webhook", "whatsapp", "bare-whatsapp"), ("api", "api", "bare-api"))


def measure(session: Session, bare: Target) -> dict[str, Any]:
    config = session.config
    levels: dict[str, dict[str, Any]] = {}
    for processes in config.scale:
        label = f"r1, {processes} ingress process{'es' if processes > 1 else ''}"
        baseline = nullcontext(bare) if processes == 1 else session.bare_ingress(processes)
        env = scaling.ingress_env(processes)
        with session.parley(label, workers=False, env=env) as parley, baseline as bare_n:
            levels[str(processes)] = _level(session, parley, bare_n, profile=not levels)
    rates = {
        route: {n: (level[route]["rate"], level[route]["bare_rate"]) for n, level in levels.items()}
        for route, _, _ in ROUTES
    }
    return {
        "concurrency": config.concurrency,
        **levels[scaling.first_level(levels)],
        "processes": levels,
        "growth": {route: scaling.growth(rates[route]) for route, _, _ in ROUTES},
    }


def _level(session: Session, parley: Target, bare: Target, profile: bool) -> dict[str, Any]:
    """Both routes against the bare one, in turns; ``profile``: py-spy on the first turns."""
    config = session.config
    runs: dict[str, list[dict[str, Any]]] = {}
    mark = session.stack.mark()
    for rep in range(config.repetitions):
        for route, kind, bare_kind in ROUTES:
            pair = ((route, parley, kind), (f"bare-{route}", bare, bare_kind))
            for name, target, each in pair:
                profiler = None
                if profile and rep == 0 and name == route:  # Parley's, first repetition
                    seconds = config.warmup_seconds + config.seconds
                    profiler = session.profile({f"r1-{route}-ingress": "ingress"}, seconds)
                runs.setdefault(name, []).append(_accept(session, target, each))
                session.keep_profiles(profiler)
    result: dict[str, Any] = {"memory": session.stack.memory_since(mark)}
    for route, _, _ in ROUTES:
        parley_runs, bare_runs = runs[route], runs[f"bare-{route}"]
        figures = {
            "rate": median([r["rate"] for r in parley_runs]),
            "p50_ms": median([r["latency"]["p50_ms"] for r in parley_runs]),
            "p99_ms": median([r["latency"]["p99_ms"] for r in parley_runs]),
            "bare_rate": median([r["rate"] for r in bare_runs]),
            "bare_p50_ms": median([r["latency"]["p50_ms"] for r in bare_runs]),
            "bare_p99_ms": median([r["latency"]["p99_ms"] for r in bare_runs]),
        }
        figures["ratio"] = ratio(figures["rate"], figures["bare_rate"])
        result[route] = {**figures, "runs": parley_runs, "bare_runs": bare_runs}
    return result


def _accept(session: Session, target: Target, kind: str) -> dict[str, Any]:
    config = session.config
    plan = {
        "kind": "accept",
        "traffic": session.traffic(kind, target, config.conversations),
        "concurrency": config.concurrency,
        "warmup_seconds": config.warmup_seconds,
        "seconds": config.seconds,
    }
    result = session.load(plan)
    print(
        f"    {kind:<14} {result['rate']:8.1f}/s  p50 {result['latency']['p50_ms']:.1f} ms"
        f"  p99 {result['latency']['p99_ms']:.1f} ms  {result['statuses']}",
        flush=True,
    )
    return result
