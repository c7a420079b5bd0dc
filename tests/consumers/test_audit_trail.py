"""The audit trail keeps each event once, and a tombstone takes an erased conversation's out."""

from __future__ import annotations

from typing import Any

from consumers.audit_trail import EVENT_LOG_COLLECTION, AuditTrail
from core.ids import new_id
from core.system_events import system_performance


def _event(conversation_id: str, tenant: str) -> dict[str, Any]:
    return {
        "id": new_id("evt"),
        "type": "chat.message.received",
        "tenantid": tenant,
        "partitionkey": conversation_id,
        "data": {"conversation_id": conversation_id, "text": "my address is 1 Main St"},
    }


def test_a_tombstone_removes_the_erased_conversations_events_only(db: Any, tenant: str) -> None:
    trail = AuditTrail(db)
    erased, kept = new_id("conv"), new_id("conv")
    for event in (_event(erased, tenant), _event(erased, tenant), _event(kept, tenant)):
        trail.handle(event)

    trail.forget(erased)
    trail.forget(erased)  # a tombstone read twice changes nothing more

    left = list(db[EVENT_LOG_COLLECTION].find({"tenant_id": tenant}))
    assert [doc["partition_key"] for doc in left] == [kept]


def test_a_workers_performance_window_is_logged_though_its_stage_names_hold_dots(
    db: Any,
) -> None:
    figures = {"count": 3, "p50_ms": 1.5, "p95_ms": 2.0, "failed": 0}
    event = system_performance(60, "worker@host/1", {"parley.process": figures}).to_dict()
    AuditTrail(db).handle(event)
    logged = db[EVENT_LOG_COLLECTION].find_one({"event_id": event["id"]})
    assert logged is not None and logged["type"] == "system.performance"
    assert logged["data"]["stages"] == [{"stage": "parley.process", **figures}]
