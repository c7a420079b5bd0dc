"""R1 and R2 at more than one level of parallelism (``PARLEY_BENCH_SCALE``): the settings a level
gives Parley's processes, and how each level's rates grow over the first level's, Parley's
beside the baseline's, so a reader sees whether the cost per core grows or holds."""

from __future__ import annotations

from typing import Any

from bench.stats import ratio
from core.stages import NAMES


def ingress_env(processes: int) -> dict[str, str]:
    """R1's level: the ingress's processes."""
    return {"PARLEY_INGRESS_WORKERS": str(processes)}


def chain_env(concurrency: int) -> dict[str, str]:
    """R2's level: each of the chain's queues at ``concurrency`` (the others as shipped)."""
    return {"PARLEY_WORKER_CONCURRENCY": ",".join(f"{stage}={concurrency}" for stage in NAMES)}


def growth(rates: dict[str, tuple[float, float]]) -> dict[str, dict[str, float]]:
    """``rates``: level -> (Parley's rate, the baseline's), in the order measured. For each
    later level, both rates over the first level's, and Parley's growth over the baseline's
    (1.0: Parley gains from the level what the baseline gains)."""
    levels = list(rates)
    first_parley, first_bare = rates[levels[0]]
    out: dict[str, dict[str, float]] = {}
    for level in levels[1:]:
        parley, bare = rates[level]
        grown = {"parley": ratio(parley, first_parley), "bare": ratio(bare, first_bare)}
        out[level] = {**grown, "ratio": ratio(grown["parley"], grown["bare"])}
    return out


def first_level(levels: dict[str, Any]) -> str:
    return next(iter(levels))
