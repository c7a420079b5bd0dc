"""Analytics facts: one document per counted event, aggregated into time buckets when read.

A fact's ``_id`` is ``analytics:<event id>`` (``record_id``) and it is written by one upsert
that only inserts, so the fact *is* the handler's ledger record: a redelivered event finds it
and changes nothing (docs/analytics.md, "Exactly once"). Each fact carries its tenant, channel,
conversation, ``at`` and the keys of its minute, hour and day buckets, so a report is a
``$match`` on tenant and time and a ``$group`` on a bucket key; durations are read as values
and their percentiles computed here, exactly (FerretDB v1 has no percentile operator).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

FACTS_COLLECTION = "analytics_facts"
Interval = Literal["minute", "hour", "day"]
INTERVALS: tuple[Interval, ...] = ("minute", "hour", "day")
# A bucket's key is its start, cut to its interval (UTC): ``2026-12-07T16:53``.
BUCKET_FORMATS: dict[Interval, str] = {
    "minute": "%Y-%m-%dT%H:%M",
    "hour": "%Y-%m-%dT%H",
    "day": "%Y-%m-%d",
}
# What a fact counts: one per event type the handler takes (consumers/analytics.py).
# The labels a count is broken down by.
LABELS = ("reason", "language", "sentiment")
Kind = Literal["in", "out", "started", "ended", "delivered", "read", "failed", "dead_letter"]


class Fact(TypedDict):
    _id: str
    tenant_id: str
    channel: str | None
    conversation_id: str | None
    message_id: str | None
    kind: Kind
    at: datetime
    minute: str
    hour: str
    day: str
    # ``in``: the processing summary's labels, when the message had them.
    language: NotRequired[str | None]
    sentiment: NotRequired[str | None]
    # ``failed``, ``dead_letter``, ``ended``: why.
    reason: NotRequired[str | None]
    # ``out``: the reply's response time and its generate stage's time, in milliseconds.
    response_ms: NotRequired[int | None]
    engine_ms: NotRequired[int | None]


def bucket_keys(at: datetime) -> dict[Interval, str]:
    return {interval: at.strftime(fmt) for interval, fmt in BUCKET_FORMATS.items()}


class AnalyticsRepository:
    """The ``analytics_facts`` collection (or another one, for a consumer of its own such as
    the reference Analytics Engine)."""

    def __init__(self, db: Database[Any], collection: str = FACTS_COLLECTION) -> None:
        self._facts: Collection[Any] = db[collection]

    def record(self, fact: Fact) -> bool:
        """Insert ``fact`` unless its ``_id`` is there; whether it was inserted now. Keyed by
        ``_id`` alone, so FerretDB's upsert is one lookup."""
        fields = {key: value for key, value in fact.items() if key != "_id"}
        with contextlib.suppress(DuplicateKeyError):  # a concurrent copy inserted it first
            result = self._facts.update_one(
                {"_id": fact["_id"]}, {"$setOnInsert": fields}, upsert=True
            )
            return result.upserted_id is not None
        return False

    def forget(self, conversation_id: str) -> int:
        """An erased conversation's facts go; how many did."""
        return self._facts.delete_many({"conversation_id": conversation_id}).deleted_count

    def _match(
        self, tenant_id: str, start: datetime, end: datetime, channel: str | None
    ) -> dict[str, Any]:
        match: dict[str, Any] = {"tenant_id": tenant_id, "at": {"$gte": start, "$lt": end}}
        if channel is not None:
            match["channel"] = channel
        return match

    def counts(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        channel: str | None,
        by: Interval | None,
    ) -> list[tuple[str | None, str, dict[str, Any], int]]:
        """How many facts of each kind and labels (``LABELS``) fall in ``[start, end)``, per
        ``by`` bucket if given: ``(bucket, kind, labels, n)`` rows."""
        group_id: dict[str, str] = {"kind": "$kind", **{name: f"${name}" for name in LABELS}}
        if by is not None:
            group_id["bucket"] = f"${by}"
        rows = self._facts.aggregate(
            [
                {"$match": self._match(tenant_id, start, end, channel)},
                {"$group": {"_id": group_id, "n": {"$sum": 1}}},
            ]
        )
        return [
            (
                row["_id"].get("bucket"),
                row["_id"]["kind"],
                {name: row["_id"].get(name) for name in LABELS},
                row["n"],
            )
            for row in rows
        ]

    def replies(
        self, tenant_id: str, start: datetime, end: datetime, channel: str | None
    ) -> list[dict[str, Any]]:
        """The ``out`` facts in ``[start, end)``: their buckets, conversation and durations."""
        match = {**self._match(tenant_id, start, end, channel), "kind": "out"}
        fields = ("minute", "hour", "day", "conversation_id", "at", "response_ms", "engine_ms")
        return list(self._facts.find(match, dict.fromkeys(fields, 1)))

    def starts(
        self, tenant_id: str, start: datetime, end: datetime, channel: str | None
    ) -> list[dict[str, Any]]:
        """The ``started`` facts in ``[start, end)``."""
        match = {**self._match(tenant_id, start, end, channel), "kind": "started"}
        fields = ("minute", "hour", "day", "conversation_id", "at")
        return list(self._facts.find(match, dict.fromkeys(fields, 1)))

    def first_replies(self, tenant_id: str, conversation_ids: Iterable[str]) -> dict[str, datetime]:
        """Each conversation's earliest ``out`` fact's time, whenever it was."""
        ids = sorted(set(conversation_ids))
        if not ids:
            return {}
        first: dict[str, datetime] = {}
        found = self._facts.find(
            {"tenant_id": tenant_id, "kind": "out", "conversation_id": {"$in": ids}},
            {"conversation_id": 1, "at": 1},
        )
        for doc in found:
            key = doc["conversation_id"]
            if key not in first or doc["at"] < first[key]:
                first[key] = doc["at"]
        return first
