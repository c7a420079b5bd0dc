"""The suite's knobs, read from ``PARLEY_FAULTS_*`` environment variables, and its output folder.

- ``PARLEY_FAULTS_MESSAGES``: webhooks per scenario (500)
- ``PARLEY_FAULTS_CONVERSATIONS``: users, one conversation each (50)
- ``PARLEY_FAULTS_RATE``: webhooks per second the load is paced at (4)
- ``PARLEY_FAULTS_DRAIN_SECONDS``: the drain fails after this long without progress (180)
- ``PARLEY_FAULTS_DRAIN_CAP_SECONDS``: ...or after this long in all (1.2 s a message, >= 600)
- ``PARLEY_FAULTS_EVENTS_SECONDS``: how long expected events may take to reach Kafka (60)
- ``PARLEY_FAULTS_SEED``: repeats an earlier run's random kill moments
- ``PARLEY_FAULTS_KEEP_DB``: set, each scenario's database is kept to look into
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from processes import ROOT

OUTPUT_DIR = ROOT / ".parley" / "faults"
# One seed per run unless PARLEY_FAULTS_SEED repeats an earlier run's random moments.
_RUN_SEED = secrets.randbelow(10**6)


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _float_env(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


@dataclass(frozen=True)
class FaultsConfig:
    """How big and how long each scenario is; every value can be set from the environment."""

    messages: int
    conversations: int
    rate: float  # webhooks per second the load aims at
    drain_seconds: float  # the drain fails when no turn became terminal for this long
    drain_cap_seconds: float  # ...or when it took this long in all
    events_seconds: float  # how long after the drain every expected event must be on Kafka
    seed: int

    @property
    def load_seconds(self) -> float:
        return self.messages / self.rate

    @classmethod
    def from_env(cls) -> FaultsConfig:
        messages = _int_env("PARLEY_FAULTS_MESSAGES", 500)
        return cls(
            messages=messages,
            conversations=_int_env("PARLEY_FAULTS_CONVERSATIONS", 50),
            rate=_float_env("PARLEY_FAULTS_RATE", 4.0),
            drain_seconds=_float_env("PARLEY_FAULTS_DRAIN_SECONDS", 180.0),
            # A fault-free 500 drains in seconds once the load stops; the cap leaves room for
            # a slow machine and a fault's retry tail, and keeps a stuck run from eating CI.
            drain_cap_seconds=_float_env(
                "PARLEY_FAULTS_DRAIN_CAP_SECONDS", max(600.0, 1.2 * messages)
            ),
            events_seconds=_float_env("PARLEY_FAULTS_EVENTS_SECONDS", 60.0),
            seed=_int_env("PARLEY_FAULTS_SEED", _RUN_SEED),
        )
