"""The audit trail keeps each event once, and a tombstone takes an erased conversation's out."""

from __future__ import annotations

from typing import Any

from consumers.audit_trail import EVENT_LOG_COLLECTION, AuditTrail
from core.ids import new_id


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
