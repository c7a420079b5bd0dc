"""The run's outputs: ``results.json``, ``results.png`` and the table of ratios."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench import stats

TARGETS = {
    "R1 webhook": ">= 0.5",
    "R1 api": ">= 0.5",
    "R2": ">= 0.5",
    "R2 CPU per message": "<= 35 ms",
    "R2 mongo round trips/msg": "<= 12",
    "R3 p99/p50": "<= 3",
    "R4": ">= 0.85",
    "R5": ">= 0.9",
    "R7 burst: 1 conv / N convs (time)": "<= 2",
    "R7 executions/turn": "<= 2",
    "R7 once, in order": "all",
    "R8 processing on/off": ">= 0.9",
}


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results.get("scenarios", {})
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, Parley, baseline, ratio, target) for every figure the run has."""
    out: list[tuple[str, str, str, str, str]] = []

    def add(
        name: str, value: Any, base: Any, ratio: Any, unit: str = "/s", digits: int = 1
    ) -> None:
        if value is None:
            return

        def fmt(v: Any) -> str:
            missing = v is None or (isinstance(v, float) and math.isnan(v))
            return "-" if missing else f"{v:.{digits}f}{unit}"

        r = "-" if ratio is None or math.isnan(ratio) else f"{ratio:.3f}"
        out.append((name, fmt(value), fmt(base), r, TARGETS.get(name, "")))

    for route in ("webhook", "api"):
        r1 = _get(results, "r1", route)
        if r1:
            add(f"R1 {route}", r1["rate"], r1["bare_rate"], r1["ratio"])
            add(f"R1 {route} p99", r1["p99_ms"], r1["bare_p99_ms"], None, " ms")
    r1 = _get(results, "r1")
    if r1 and "processes" in r1:
        for level, figures in r1["processes"].items():
            for route in ("webhook", "api"):
                f = figures[route]
                add(f"R1 {route}, {level} ingress proc", f["rate"], f["bare_rate"], f["ratio"])
        first = next(iter(r1["processes"]))
        for route, grown in r1["growth"].items():
            for level, g in grown.items():
                name = f"R1 {route} growth {first}->{level} proc"
                add(name, g["parley"], g["bare"], g["ratio"], "x", digits=2)
    r2 = _get(results, "r2")
    if r2:
        add("R2", r2["parley"]["r2"]["throughput"], r2["bare"]["r2"]["throughput"], r2["r2_ratio"])
        p2, b2 = r2["parley"]["r2"], r2["bare"]["r2"]
        if "cpu_ms_per_message" in p2:
            add(
                "R2 CPU per message",
                p2["cpu_ms_per_message"],
                b2.get("cpu_ms_per_message"),
                None,
                " ms",
            )
        for store in ("mongo", "redis"):
            # What a message cost each store under the load; the bare chain has no stores.
            add(
                f"R2 {store} round trips/msg",
                p2.get(f"{store}_round_trips_per_message"),
                None,
                None,
                "",
                digits=1,
            )
        if "r3" in r2["parley"]:
            p, b = r2["parley"]["r3"], r2["bare"]["r3"]
            add("R3 p50", p["p50_ms"], b["p50_ms"], None, " ms")
            add("R3 p99", p["p99_ms"], b["p99_ms"], None, " ms")
            add("R3 p99/p50", p["p99_over_p50"], b["p99_over_p50"], None, "")
    if r2 and "concurrency_levels" in r2:
        levels = r2["concurrency_levels"]
        for level, figures in levels.items():
            rate, bare_rate = (
                figures["parley"]["r2"]["throughput"],
                figures["bare"]["r2"]["throughput"],
            )
            add(f"R2, concurrency {level} per queue", rate, bare_rate, figures["r2_ratio"])
        for level, g in r2["growth"].items():
            name = f"R2 growth concurrency {next(iter(levels))}->{level}"
            add(name, g["parley"], g["bare"], g["ratio"], "x", digits=2)
    r4 = _get(results, "r4")
    if r4:
        add("R4", r4["reliable"]["throughput"], r4["celery_defaults"]["throughput"], r4["r4_ratio"])
    r5 = _get(results, "r5")
    if r5:
        add("R5", r5["events_flower"]["throughput"], r5["no_events"]["throughput"], r5["r5_ratio"])
    r6 = _get(results, "r6")
    base = r2["parley"] if r2 else None
    if r6:
        for size, figures in r6["stored"].items():
            tp = figures["r2"]["throughput"]
            base_tp = base["r2"]["throughput"] if base else None
            add(f"R6 {size} stored", tp, base_tp, tp / base_tp if base_tp else None)
            if "r3" in figures:
                base_p99 = base["r3"]["p99_ms"] if base and "r3" in base else None
                add(f"R6 {size} stored p99", figures["r3"]["p99_ms"], base_p99, None, " ms")
    if r6:
        few_many = list(r6["conversations"].items())
        if len(few_many) == 2:
            (few, a), (many, b) = few_many
            add(
                f"R6 {few} vs {many} conv",
                a["r2"]["throughput"],
                b["r2"]["throughput"],
                a["r2"]["throughput"] / b["r2"]["throughput"] if b["r2"]["throughput"] else None,
            )
            if "r3" in a and "r3" in b:
                add(
                    f"R6 {few} vs {many} conv p99",
                    a["r3"]["p99_ms"],
                    b["r3"]["p99_ms"],
                    None,
                    " ms",
                )
    r7 = _get(results, "r7")
    if r7:
        burst, spread = r7["burst"], r7["spread"]
        name = "R7 burst: 1 conv / N convs (time)"
        add(name, burst["seconds"], spread["seconds"], r7["r7_ratio"], " s", digits=2)
        add(
            "R7 executions/turn",
            burst["executions_per_turn"],
            spread["executions_per_turn"],
            r7["executions_ratio"],
            "",
            digits=2,
        )
        add("R7 answered together", burst["together"], spread["together"], None, "", digits=0)
        name = "R7 once, in order"
        out.append((name, _verdict(burst), _verdict(spread), "", TARGETS[name]))
    r8 = _get(results, "r8")
    if r8:
        add("R8 processing on/off", r8["processing"]["throughput"],
            r8["no_processing"]["throughput"], r8["r8_ratio"])  # fmt: skip
        cost = r8["pipeline"]
        cpu = r8["no_processing"].get("cpu_ms_per_message")
        total = cost["total_ms"]["mean_ms"]
        add("R8 pipeline per message", total, cpu, stats.ratio(total, cpu), " ms", digits=2)
        for stage, figures in cost["stages"].items():
            add(f"R8 {stage} mean/p95", figures["mean_ms"], figures["p95_ms"], None, " ms", 3)
    store = results.get("store", {}).get("before")
    if store:
        mongo, redis = store["mongo_insert_p50_ms"], store["redis_lpush_p50_ms"]
        add("store write p50", mongo, redis, redis / mongo if mongo else None, " ms")
        mongo, redis = (
            store["mongo_inserts_per_second_16_threads"],
            store["redis_lpushes_per_second_16_threads"],
        )
        add("store writes, 16 threads", mongo, redis, mongo / redis if redis else None)
    memory = results.get("memory", {})
    for name in sorted(memory):
        m = memory[name]
        add(f"RSS {name}", m["steady_mb"], m["peak_mb"], None, " MB")
    return out


def _verdict(figures: dict[str, Any]) -> str:
    """Whether every message was answered exactly once and in order: "ok", or what went wrong."""
    found = {"lost": "lost", "duplicates": "twice", "out_of_order": "out of order"}
    wrong = [f"{figures[key]} {what}" for key, what in found.items() if figures[key]]
    return "FAILED: " + ", ".join(wrong) if wrong else "ok"


def table(results: dict[str, Any]) -> str:
    header = ("figure", "Parley", "baseline", "ratio", "target")
    lines = [header, *rows(results)]
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    text = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    notes = (
        "(store rows: MongoDB against Redis, Parley's store against the baselines';"
        " RSS rows: steady and peak of the largest process, not a ratio;"
        " R7: a burst in one conversation against as many messages from as many users, time to"
        " answer all (lower is better);"
        " R1/R2 at N: N ingress processes, or concurrency N for each chain queue, against the"
        " bare baseline at the same; growth rows: a level's rate over the first level's, Parley's"
        " against the baseline's;"
        " R8: with the tenant's processors against all disabled, the pipeline's time per message"
        " against a message's CPU without it, each stage's mean against its p95)"
    )
    failed = [f"{name}: {error}" for name, error in results.get("errors", {}).items()]
    alarm = "".join(f"\n!! {line}" for line in failed)
    return "\n".join(text) + "\n" + notes + alarm


def write_json(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")


def write(results: dict[str, Any], out: Path, png: bool = True) -> None:
    write_json(results, out)
    if png:
        chart(results, out / "results.png")


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars: list[tuple[str, float, float]] = []  # (label, Parley, baseline)
    lats: list[tuple[str, float, float]] = []  # (label, p50, p99)
    for route in ("webhook", "api"):
        r1 = _get(results, "r1", route)
        if r1:
            bars.append((f"R1 {route}", r1["rate"], r1["bare_rate"]))
            lats.append((f"R1 {route}", r1["p50_ms"], r1["p99_ms"]))
            lats.append((f"R1 bare {route}", r1["bare_p50_ms"], r1["bare_p99_ms"]))
    r2 = _get(results, "r2")
    if r2:
        bars.append(("R2", r2["parley"]["r2"]["throughput"], r2["bare"]["r2"]["throughput"]))
        for name in ("parley", "bare"):
            if "r3" in r2[name]:
                lats.append((f"R3 {name}", r2[name]["r3"]["p50_ms"], r2[name]["r3"]["p99_ms"]))
    variants = (
        ("r4", "reliable", "celery_defaults"),
        ("r5", "events_flower", "no_events"),
        ("r8", "processing", "no_processing"),
    )
    for key, a, b in variants:
        r = _get(results, key)
        if r:
            bars.append((key.upper(), r[a]["throughput"], r[b]["throughput"]))
    r7 = _get(results, "r7")
    if r7:
        bars.append(("R7", r7["burst"]["throughput"], r7["spread"]["throughput"]))
    r6 = _get(results, "r6")
    if r6:
        for group, label in (("stored", "stored"), ("conversations", "conv")):
            for size, figures in r6[group].items():
                if "r3" in figures:
                    lats.append(
                        (f"R6 {size} {label}", figures["r3"]["p50_ms"], figures["r3"]["p99_ms"])
                    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    xs = range(len(bars))
    left.bar([x - 0.2 for x in xs], [b[1] for b in bars], 0.4, label="Parley")
    left.bar([x + 0.2 for x in xs], [b[2] for b in bars], 0.4, label="baseline")
    left.set_xticks(list(xs), [b[0] for b in bars])
    left.set_yscale("log")
    left.set_ylabel("messages per second (log)")
    left.set_title("Throughput, each beside its baseline")
    left.legend()
    ys = range(len(lats))
    right.barh([y - 0.2 for y in ys], [v[1] for v in lats], 0.4, label="p50")
    right.barh([y + 0.2 for y in ys], [v[2] for v in lats], 0.4, label="p99")
    right.set_yticks(list(ys), [v[0] for v in lats])
    right.set_xscale("log")
    right.set_xlabel("milliseconds (log)")
    right.set_title("Latency percentiles")
    right.legend()
    machine = results.get("machine", {})
    fig.suptitle(
        f"Parley benchmark {results.get('finished_at', '')} — {machine.get('cpus')} CPUs, "
        f"load average {results.get('load', {}).get('before', {}).get('loadavg')}"
        f"{' (quick)' if results.get('config', {}).get('quick') else ''}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
