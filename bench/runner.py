"""``python -m bench``: every scenario in turn, then results.json, results.png and the table.

The local services must be up (``make bench`` starts them). A scenario that fails is recorded
with its error and the run goes on with the next one, so a long run is never wasted whole; so
is one whose figures carry ``failures`` (R7's replies lost, doubled or out of order).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine, report
from bench.config import ROOT, BenchConfig


def _wait_for_services(timeout: float = 300.0) -> None:
    """The services are shared: if one is being restarted by someone else, wait for it."""
    from services import devstack

    deadline = time.monotonic() + timeout
    while True:
        down = [s.name for s in devstack.status() if s.state == "down"]
        if not down:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"services down: {', '.join(down)} (run `parley services up`)")
        print(f"waiting for {', '.join(down)}…", flush=True)
        time.sleep(5)


def main() -> int:
    config = BenchConfig.from_env()
    from bench.session import Session

    _wait_for_services()
    session = Session(config)
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(str(ROOT)),
        "config": {k: _shown(v) if k == "out" else v for k, v in vars(config).items()},
        "load": {"before": machine.load()},
        "scenarios": {},
        "errors": {},
    }
    print(f"bench run {session.run_id}: logs in {session.home}", flush=True)
    from bench import (
        r1_ingress,
        r2_pipeline,
        r4_durability,
        r5_monitoring,
        r6_growth,
        r7_burst,
        r8_processing,
    )

    steps: list[tuple[str, Callable[..., dict[str, Any]], bool]] = [
        ("r1", r1_ingress.measure, True),
        ("r2", r2_pipeline.measure, True),
        ("r4", r4_durability.measure, False),
        ("r5", r5_monitoring.measure, False),
        ("r6", r6_growth.measure, False),
        ("r7", r7_burst.measure, False),
        ("r8", r8_processing.measure, False),
    ]
    from bench.store_probe import probe

    results["store"] = {
        "before": probe(session.mongo, session.database_name(), session.settings.redis_url)
    }
    session.stack.start_sampling()
    mark = session.stack.mark()
    # The baselines' processes run only for the scenarios that measure against them.
    bare_needed = any(needs_bare and config.wants(name) for name, _, needs_bare in steps)
    try:
        with session.bare() if bare_needed else nullcontext() as bare:
            for name, measure, needs_bare in steps:
                if not config.wants(name):
                    continue
                _wait_for_services()
                print(f"{name.upper()}", flush=True)
                started = time.monotonic()
                try:
                    args = (session, bare) if needs_bare else (session,)
                    results["scenarios"][name] = figures = measure(*args)
                    if figures.get("failures"):
                        results["errors"][name] = "FAILED: " + "; ".join(figures["failures"])
                        print(f"{name.upper()} {results['errors'][name]}", flush=True)
                except Exception as exc:
                    traceback.print_exc()
                    results["errors"][name] = f"{type(exc).__name__}: {exc}"
                results["load"][name] = {
                    **machine.load(),
                    "seconds": round(time.monotonic() - started),
                }
                report.write_json(results, config.out)  # a stopped run keeps what it measured
        results["memory"] = session.stack.memory_since(mark)
        results["store"]["after"] = probe(
            session.mongo, session.database_name(), session.settings.redis_url
        )
    finally:
        session.stack.stop_sampling()
        session.close()
    results["load"]["after"] = machine.load()
    results["profiles"] = session.profiles
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    report.write(results, config.out, png=config.chart)
    print()
    print(report.table(results))
    written = ["results.json", *(["results.png"] if config.chart else [])]
    print(f"\nwritten: {', '.join(str(config.out / name) for name in written)}")
    return 1 if results["errors"] else 0


def _shown(path: Path) -> str:
    """A path as results.json keeps it: relative to the repository, never this machine's."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return path.name
