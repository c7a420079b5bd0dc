"""The benchmark's knobs, read once from ``PARLEY_BENCH_*`` environment variables.

- ``PARLEY_BENCH_QUICK=1``: every scenario, briefly (a smoke run: one repetition, short loads)
- ``PARLEY_BENCH_REPETITIONS`` (3): repetitions of each measurement; figures are their medians
- ``PARLEY_BENCH_SECONDS`` (10): measured seconds of an R1 load (after ``_WARMUP_SECONDS``, 3)
- ``PARLEY_BENCH_CONCURRENCY`` (32): R1's connections in a closed loop
- ``PARLEY_BENCH_MESSAGES`` (60): messages of an R2 load (after ``_WARMUP_MESSAGES``, 20)
- ``PARLEY_BENCH_WINDOW`` (24): R2's messages sent but not yet delivered: about twice what
  Parley runs at once for one tenant (the tenant cap of 4 tasks a stage, 2 processes for
  ``process``), so every stage stays busy while the backlog stays well below the reconciler's
  patience (older turns would be re-driven, and the load would measure the reconciler)
- ``PARLEY_BENCH_LATENCY_SECONDS`` (20): measured seconds of an R3 load at 70 % of R2
- ``PARLEY_BENCH_CONVERSATIONS`` (100): conversations a load spreads over
- ``PARLEY_BENCH_FEW_MANY`` ("10,1000"): R6's few and many concurrent conversations
- ``PARLEY_BENCH_STORED`` ("10000,200000"; "2000" when quick): R6's sizes of messages already
  stored, each seeded first into a fresh database ("0" drops that part). Seeding takes a few
  minutes at 200,000 (insert_many on FerretDB v1 here); the turns after it read by ``_id`` from
  FerretDB's index (services/devstack/mongo.py), so they should cost what they cost on an empty one.
- ``PARLEY_BENCH_BURST`` (1000; 100 when quick): R7's messages to one conversation, posted at
  once and then one at a time
- ``PARLEY_BENCH_BURST_REPETITIONS`` (1): R7's repetitions; a load of 1,000 messages averages
  over minutes already, and three would add a quarter of an hour
- ``PARLEY_BENCH_SCALE`` ("1,2"): the levels R1 and R2 are also measured at, to show how the
  cost grows with cores. R1: that many ingress processes (``PARLEY_INGRESS_WORKERS``) against
  the bare route served by as many uvicorn workers; R2: that concurrency for each of the chain's
  four queues (``PARLEY_WORKER_CONCURRENCY``; one worker per queue, its pool as shipped: threads
  or prefork) against the bare chain's workers at the same. R1's headline figures are its
  first level's; R2's stay those of the platform as shipped (its queues' own concurrency). The
  R2 levels measure throughput only, no R3
- ``PARLEY_BENCH_ONLY``: a comma-separated subset of r1,r2,r4,r5,r6,r7,r8 (R3 runs with R2)
- ``PARLEY_BENCH_PROFILE=1``: py-spy profiles of the ingress (R1) and the chain's workers
  (R2) in the run's folder (see bench/profiling.py); a profiled run's figures are not comparable
- ``PARLEY_BENCH_OUT`` (``bench/``): where results.json and results.png go
- ``PARLEY_BENCH_CHART=0``: no results.png (matplotlib, of the ``bench`` extra, is not needed)

The defaults make a full run take about 20 minutes on a 2-core machine (R8 adds two platform
starts and their R2 loads).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("r1", "r2", "r4", "r5", "r6", "r7", "r8")


def _env(name: str, default: str) -> str:
    return os.environ.get(f"PARLEY_BENCH_{name}", "").strip() or default


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class BenchConfig:
    quick: bool
    repetitions: int
    seconds: float
    warmup_seconds: float
    concurrency: int
    messages: int
    warmup_messages: int
    window: int
    latency_seconds: float
    conversations: int
    few_many: tuple[int, ...]
    stored: tuple[int, ...]
    burst: int
    burst_repetitions: int
    only: tuple[str, ...]
    scale: tuple[int, ...]
    profile: bool
    out: Path
    chart: bool

    @classmethod
    def from_env(cls) -> BenchConfig:
        quick = _env("QUICK", "0") == "1"
        only = tuple(s for s in _env("ONLY", ",".join(SCENARIOS)).lower().split(",") if s)
        unknown = set(only) - set(SCENARIOS)
        if unknown:
            raise SystemExit(f"PARLEY_BENCH_ONLY: unknown scenario(s) {sorted(unknown)}")
        scale = _ints(_env("SCALE", "1,2"))
        if not scale or min(scale) < 1 or len(set(scale)) != len(scale):
            raise SystemExit(f"PARLEY_BENCH_SCALE: distinct whole numbers from 1, got {scale}")
        return cls(
            quick=quick,
            repetitions=int(_env("REPETITIONS", "1" if quick else "3")),
            seconds=float(_env("SECONDS", "3" if quick else "10")),
            warmup_seconds=float(_env("WARMUP_SECONDS", "1" if quick else "3")),
            concurrency=int(_env("CONCURRENCY", "32")),
            messages=int(_env("MESSAGES", "30" if quick else "60")),
            warmup_messages=int(_env("WARMUP_MESSAGES", "10" if quick else "20")),
            window=int(_env("WINDOW", "24")),
            latency_seconds=float(_env("LATENCY_SECONDS", "5" if quick else "20")),
            conversations=int(_env("CONVERSATIONS", "100")),
            few_many=_ints(_env("FEW_MANY", "10,1000")),
            stored=tuple(
                n for n in _ints(_env("STORED", "2000" if quick else "10000,200000")) if n
            ),
            burst=int(_env("BURST", "100" if quick else "1000")),
            burst_repetitions=int(_env("BURST_REPETITIONS", "1")),
            only=only,
            scale=scale,
            profile=_env("PROFILE", "0") == "1",
            out=Path(_env("OUT", str(ROOT / "bench"))),
            chart=_env("CHART", "1") != "0",
        )

    def wants(self, scenario: str) -> bool:
        return scenario in self.only
