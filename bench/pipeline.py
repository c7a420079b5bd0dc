"""R2 and R3 measured on whatever pipeline is running: Parley behind its ingress (``whatsapp``)
or the bare chain published straight to the broker (``chain``).

R2 keeps ``window`` messages in flight (sent, not yet delivered at the provider fake) and
reports messages per second; R3 sends at a fixed rate — 70 % of R2's figure for the same
pipeline — and reports the latency from send to delivery. The bare chain is far faster, so its
R2 load has ``BARE_FACTOR`` times the messages, to last about as long as Parley's.
"""

from __future__ import annotations

import math
from typing import Any

from bench import cpu, store_trips
from bench.session import Session, Target
from bench.stats import median, ratio
from core.stages import NAMES

BARE_FACTOR = 5
LATENCY_SHARE = 0.7
PROFILED = (
    "ingress",
    *(f"worker-{stage}" for stage in NAMES),
)
PROFILE_SECONDS = 30


def throughput(session: Session, target: Target, kind: str, conversations: int) -> dict[str, Any]:
    config = session.config
    factor = BARE_FACTOR if kind == "chain" else 1
    messages = (config.messages + config.warmup_messages) * factor
    plan = {
        "kind": "pipeline",
        "traffic": session.traffic(kind, target, conversations),
        "fake_port": session.fake_port,
        "messages": messages,
        "warmup": config.warmup_messages * factor,
        "window": config.window,
    }
    before = cpu.snapshot(session.stack)
    trips = store_trips.snapshot(session.metrics_urls) if kind != "chain" else None
    result = session.load(plan)
    result["cpu_per_message"] = cpu.per_message(before, cpu.snapshot(session.stack), messages)
    if trips is not None:
        after = store_trips.snapshot(session.metrics_urls)
        result["round_trips_per_message"] = store_trips.per_message(trips, after, messages)
    _print("R2", kind, result)
    return result


def latency(
    session: Session, target: Target, kind: str, conversations: int, rate: float
) -> dict[str, Any]:
    config = session.config
    warmup = max(1, math.ceil(rate * 2))  # two seconds' worth
    plan = {
        "kind": "pipeline",
        "traffic": session.traffic(kind, target, conversations),
        "fake_port": session.fake_port,
        "messages": warmup + max(10, math.ceil(rate * config.latency_seconds)),
        "warmup": warmup,
        "rate": rate,
    }
    result = session.load(plan)
    result["offered_rate"] = rate
    _print("R3", kind, result)
    return result


def _print(what: str, kind: str, result: dict[str, Any]) -> None:
    lat = result["latency"]
    cpu_ms = result.get("cpu_per_message", {}).get("total_ms")
    print(
        f"    {what} {kind:<9} {result['throughput']:8.1f}/s  p50 {lat['p50_ms']:.0f} ms"
        f"  p99 {lat['p99_ms']:.0f} ms  lost {result['lost']}  dup {result['duplicates']}"
        + (f"  cpu {cpu_ms:.1f} ms/msg" if cpu_ms is not None else ""),
        flush=True,
    )


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over repetitions of one pipeline's figures."""
    return {
        "throughput": median([r["throughput"] for r in runs]),
        "p50_ms": median([r["latency"]["p50_ms"] for r in runs]),
        "p99_ms": median([r["latency"]["p99_ms"] for r in runs]),
        "p99_over_p50": median([r["latency"]["p99_over_p50"] for r in runs]),
        "lost": sum(r["lost"] for r in runs),
        **_cpu_summary(runs),
        **_round_trip_summary(runs),
        "duplicates": sum(r["duplicates"] for r in runs),
        "runs": runs,
    }


def _round_trip_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median round trips per message over the repetitions (Parley's R2 loads only)."""
    counted = [r["round_trips_per_message"] for r in runs if "round_trips_per_message" in r]
    if not counted:
        return {}
    return {
        f"{store}_round_trips_per_message": median([c[store] for c in counted])
        for store in store_trips.STORES
    }


def _cpu_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median CPU per message over the repetitions (R2 loads only; R3's are not counted)."""
    counted = [r["cpu_per_message"] for r in runs if "cpu_per_message" in r]
    if not counted:
        return {}
    names = sorted({name for c in counted for name in c["by_process"]})
    return {
        "cpu_ms_per_message": median([c["total_ms"] for c in counted]),
        "cpu_ms_per_message_by_process": {
            name: median([c["by_process"].get(name, 0.0) for c in counted]) for name in names
        },
    }


def measure(
    session: Session,
    targets: dict[str, tuple[Target, str]],
    conversations: int,
    with_latency: bool = True,
    profile: str | None = None,
) -> dict[str, dict[str, Any]]:
    """R2 (and R3) for each named pipeline, repetitions taken in turns. ``profile``: the
    profiles' prefix, to profile Parley's processes during its first R2 repetition."""
    reps = session.config.repetitions
    r2: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for rep in range(reps):
        for name, (target, kind) in targets.items():
            profiler = None
            if profile and rep == 0 and kind == "whatsapp":
                processes = {f"{profile}-{p}": p for p in PROFILED}
                profiler = session.profile(processes, PROFILE_SECONDS)
            r2[name].append(throughput(session, target, kind, conversations))
            session.keep_profiles(profiler)
    figures = {name: {"r2": summary(runs)} for name, runs in r2.items()}
    if with_latency:
        r3: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        for _ in range(reps):
            for name, (target, kind) in targets.items():
                rate = LATENCY_SHARE * figures[name]["r2"]["throughput"]
                r3[name].append(latency(session, target, kind, conversations, rate))
        for name, runs in r3.items():
            figures[name]["r3"] = summary(runs)
    return figures


def compare(figures: dict[str, dict[str, Any]], name: str, baseline: str) -> dict[str, float]:
    """The ratios of ``name`` against ``baseline``: R2 throughput, and R3's p99/p50 for both."""
    out = {
        "r2_ratio": ratio(figures[name]["r2"]["throughput"], figures[baseline]["r2"]["throughput"])
    }
    if "r3" in figures[name]:
        out["r3_p99_over_p50"] = figures[name]["r3"]["p99_over_p50"]
        out["r3_baseline_p99_over_p50"] = figures[baseline]["r3"]["p99_over_p50"]
    return out
