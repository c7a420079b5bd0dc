"""The analytics handler counts each event once, reads reply times from the stored messages, and
forgets an erased conversation; the report aggregates its facts on FerretDB."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from consumers.analytics import Analytics
from consumers.apply import apply_once
from core.ids import new_id
from storage.analytics import AnalyticsRepository
from storage.analytics_report import AnalyticsReport, percentile
from storage.event_ledger import ProcessedEvents
from tests.analytics_events import T0, conversation, event


def _summary(db: Any, tenant: str) -> dict[str, Any]:
    report = AnalyticsReport(AnalyticsRepository(db))
    return report.summary(tenant, T0, T0 + timedelta(days=1), None)


def test_an_event_applied_twice_counts_once(db: Any, tenant: str) -> None:
    handler = Analytics(db)
    ledger = ProcessedEvents(db, handler.ledger)
    _, events = conversation(db, tenant, T0, [200, 400])

    applied = [apply_once(handler, event, ledger) for event in events]
    again = [apply_once(handler, event, ledger) for event in events]  # a redelivery
    handler.handle(events[2])  # even handed straight to the handler, a fact is inserted once

    assert all(applied) and not any(again)
    summary = _summary(db, tenant)
    assert summary["messages_in"] == 2
    assert summary["messages_out"] == 2
    assert summary["delivered"] == 2
    assert summary["conversations_started"] == 1
    assert summary["delivery_rate"] == 1.0
    assert summary["response_count"] == 2
    assert summary["languages"] == {"en": 2}
    assert summary["sentiments"] == {"positive": 2}


def test_response_times_come_from_the_stored_reply_and_inbound(db: Any, tenant: str) -> None:
    handler = Analytics(db)
    _, events = conversation(db, tenant, T0, [300, 100, 200])
    for one in events:
        handler.handle(one)

    summary = _summary(db, tenant)

    assert (summary["response_p50_ms"], summary["response_p95_ms"]) == (200, 300)
    # The first reply was sent 1 s + 300 ms after the conversation started.
    assert summary["first_response_p50_ms"] == 1300
    assert summary["engine_p50_ms"] == 20


def test_failures_and_dead_letters_are_counted_by_reason(db: Any, tenant: str) -> None:
    handler = Analytics(db)
    conversation = new_id("conv")
    common = {"conversation_id": conversation, "message_id": new_id("msg")}
    handler.handle(
        event("chat.message.failed", new_id("e"), tenant, T0, reason="permanent", **common)
    )
    handler.handle(
        event("chat.message.failed", new_id("e"), tenant, T0, reason="permanent", **common)
    )
    handler.handle(
        event("system.error", new_id("e"), tenant, T0, kind="dead_letter", reason="poison")
    )
    handler.handle(event("system.error", new_id("e"), tenant, T0, kind="breaker_open", reason="x"))

    summary = _summary(db, tenant)

    assert summary["failures"] == {"permanent": 2}
    assert summary["dead_letters"] == {"poison": 1}


def test_a_tombstone_forgets_the_erased_conversations_facts_only(db: Any, tenant: str) -> None:
    handler = Analytics(db)
    erased, erased_events = conversation(db, tenant, T0, [100])
    _, kept_events = conversation(db, tenant, T0, [500])
    for one in erased_events + kept_events:
        handler.handle(one)

    handler.forget(erased)
    handler.forget(erased)  # a tombstone read twice changes nothing more

    summary = _summary(db, tenant)
    assert summary["conversations_started"] == 1
    assert summary["messages_in"] == 1
    assert summary["response_p50_ms"] == 500


def test_the_timeseries_puts_each_fact_in_its_bucket(db: Any, tenant: str) -> None:
    handler = Analytics(db)
    _, early = conversation(db, tenant, T0, [100])
    _, late = conversation(db, tenant, T0 + timedelta(hours=2), [900])
    for one in early + late:
        handler.handle(one)

    report = AnalyticsReport(AnalyticsRepository(db))
    series = report.timeseries(tenant, T0, T0 + timedelta(hours=3), None, "hour")

    assert [at.hour for at, _ in series] == [10, 11, 12]
    assert [figures["messages_in"] for _, figures in series] == [1, 0, 1]
    assert [figures["response_p95_ms"] for _, figures in series] == [100, None, 900]


def test_percentiles_are_nearest_rank() -> None:
    values = list(range(1, 21))  # 1 … 20
    assert percentile(values, 50) == 10
    assert percentile(values, 95) == 19
    assert percentile([7], 95) == 7
    assert percentile([], 50) is None
