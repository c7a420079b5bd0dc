"""A tenant's analytics figures over a time range, whole or per bucket, from its facts.

The definitions are docs/analytics.md's; each figure is computed from the facts exactly (no
sampling, no sketches), percentiles by nearest rank over the values themselves.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.timeutil import as_utc
from storage.analytics import BUCKET_FORMATS, AnalyticsRepository, Interval

STEPS: dict[Interval, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
COUNTED = {
    "in": "messages_in",
    "out": "messages_out",
    "started": "conversations_started",
    "ended": "conversations_ended",
    "delivered": "delivered",
    "read": "read",
}
# Every figure, in the order the API lists them (ingress/api_models.py AnalyticsFigures).
METRICS = (
    "messages_in",
    "messages_out",
    "conversations_started",
    "conversations_ended",
    "delivered",
    "read",
    "delivery_rate",
    "read_rate",
    "response_count",
    "response_p50_ms",
    "response_p95_ms",
    "first_response_count",
    "first_response_p50_ms",
    "first_response_p95_ms",
    "engine_count",
    "engine_p50_ms",
    "engine_p95_ms",
    "failures",
    "dead_letters",
    "languages",
    "sentiments",
)


def percentile(values: Sequence[int], p: float) -> int | None:
    """The nearest-rank ``p``-th percentile: the smallest value with at least ``p`` % of the
    values at or below it; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


@dataclass
class Tally:
    """The facts of one bucket (or the whole range), as they are folded in."""

    counts: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    sentiments: Counter[str] = field(default_factory=Counter)
    response_ms: list[int] = field(default_factory=list)
    first_response_ms: list[int] = field(default_factory=list)
    engine_ms: list[int] = field(default_factory=list)

    def count(self, kind: str, labels: dict[str, Any], n: int) -> None:
        if kind in COUNTED:
            self.counts[COUNTED[kind]] += n
        if kind == "in":
            self.languages[labels.get("language") or "unknown"] += n
            self.sentiments[labels.get("sentiment") or "unknown"] += n
        elif kind == "failed":
            self.failures[labels.get("reason") or "unknown"] += n
        elif kind == "dead_letter":
            self.dead_letters[labels.get("reason") or "unknown"] += n

    def figures(self) -> dict[str, Any]:
        sent = self.counts["messages_out"]
        return {
            **{name: self.counts[name] for name in COUNTED.values()},
            "delivery_rate": self.counts["delivered"] / sent if sent else None,
            "read_rate": self.counts["read"] / sent if sent else None,
            **_distribution("response", self.response_ms),
            **_distribution("first_response", self.first_response_ms),
            **_distribution("engine", self.engine_ms),
            "failures": dict(sorted(self.failures.items())),
            "dead_letters": dict(sorted(self.dead_letters.items())),
            "languages": dict(sorted(self.languages.items())),
            "sentiments": dict(sorted(self.sentiments.items())),
        }


def _distribution(name: str, values: list[int]) -> dict[str, Any]:
    return {
        f"{name}_count": len(values),
        f"{name}_p50_ms": percentile(values, 50),
        f"{name}_p95_ms": percentile(values, 95),
    }


def floor(at: datetime, interval: Interval) -> datetime:
    """The start of the ``interval`` bucket ``at`` falls in."""
    at = as_utc(at).replace(second=0, microsecond=0)
    if interval != "minute":
        at = at.replace(minute=0)
    return at.replace(hour=0) if interval == "day" else at


def bucket_starts(start: datetime, end: datetime, interval: Interval) -> Iterator[datetime]:
    """The starts of the buckets that ``[start, end)`` touches."""
    at = floor(start, interval)
    while at < end:
        yield at
        at += STEPS[interval]


def bucket_count(start: datetime, end: datetime, interval: Interval) -> int:
    return sum(1 for _ in bucket_starts(start, end, interval))


class AnalyticsReport:
    """Reads a tenant's figures from its facts."""

    def __init__(self, facts: AnalyticsRepository) -> None:
        self._facts = facts

    def _tallies(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        channel: str | None,
        by: Interval | None,
    ) -> dict[str | None, Tally]:
        tallies: dict[str | None, Tally] = {}

        def tally(bucket: str | None) -> Tally:
            return tallies.setdefault(bucket, Tally())

        for bucket, kind, labels, n in self._facts.counts(tenant_id, start, end, channel, by):
            tally(bucket).count(kind, labels, n)
        for reply in self._facts.replies(tenant_id, start, end, channel):
            into = tally(reply[by] if by else None)
            if reply.get("response_ms") is not None:
                into.response_ms.append(reply["response_ms"])
            if reply.get("engine_ms") is not None:
                into.engine_ms.append(reply["engine_ms"])
        starts = self._facts.starts(tenant_id, start, end, channel)
        first = self._facts.first_replies(tenant_id, (s["conversation_id"] for s in starts))
        for started in starts:
            replied = first.get(started["conversation_id"])
            if replied is not None:
                waited = round((replied - started["at"]).total_seconds() * 1000)
                tally(started[by] if by else None).first_response_ms.append(waited)
        return tallies

    def summary(
        self, tenant_id: str, start: datetime, end: datetime, channel: str | None
    ) -> dict[str, Any]:
        tallies = self._tallies(tenant_id, start, end, channel, None)
        return tallies.get(None, Tally()).figures()

    def timeseries(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        channel: str | None,
        interval: Interval,
    ) -> list[tuple[datetime, dict[str, Any]]]:
        """Every bucket ``[start, end)`` touches, in order, empty ones too."""
        tallies = self._tallies(tenant_id, start, end, channel, interval)
        fmt = BUCKET_FORMATS[interval]
        return [
            (at, tallies.get(at.strftime(fmt), Tally()).figures())
            for at in bucket_starts(start, end, interval)
        ]
