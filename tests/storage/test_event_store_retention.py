"""The retention sweep bounds the event stores and the admin audit trail: old rows go, recent
ones stay, an unfinished webhook delivery stays however old, and the run records per tenant
what it deleted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pymongo.database import Database

from core.ids import new_id
from core.settings import get_settings
from core.timeutil import utcnow
from storage.retention_runs import COLLECTION as RUNS
from tasks.maintenance import apply_retention


def test_old_event_store_rows_go_and_recent_or_unfinished_ones_stay(
    db: Database[Any], tenant: str
) -> None:
    settings = get_settings()
    now = utcnow()
    stale = now - timedelta(days=settings.retention_event_log_days + 1)
    fresh = now - timedelta(days=1)
    ids = {name: (new_id("old"), new_id("new")) for name in ("log", "ledger", "audit")}
    db["event_log"].insert_many(
        [
            {"_id": ids["log"][0], "tenant_id": tenant, "logged_at": stale},
            {"_id": ids["log"][1], "tenant_id": tenant, "logged_at": fresh},
        ]
    )
    ledger_stale = now - timedelta(days=settings.retention_processed_events_days + 1)
    db["processed_events"].insert_many(
        [{"_id": ids["ledger"][0], "at": ledger_stale}, {"_id": ids["ledger"][1], "at": fresh}]
    )
    old_delivery = now - timedelta(days=settings.retention_webhook_deliveries_days + 1)
    deliveries = {
        (status, age): new_id("msg")
        for status in ("delivered", "dead", "pending", "failed")
        for age in ("old", "new")
    }
    db["webhook_deliveries"].insert_many(
        [
            {
                "_id": delivery_id,
                "tenant_id": tenant,
                "status": status,
                "updated_at": old_delivery if age == "old" else fresh,
            }
            for (status, age), delivery_id in deliveries.items()
        ]
    )
    # The audit trail is kept longer: a row as old as the stale event-log row stays.
    audit_stale = now - timedelta(days=settings.retention_audit_days + 1)
    db["admin_audit"].insert_many(
        [
            {
                "_id": ids["audit"][0],
                "bucket": ids["audit"][0],
                "tenant_id": tenant,
                "at": audit_stale,
            },
            {"_id": ids["audit"][1], "bucket": ids["audit"][1], "tenant_id": tenant, "at": stale},
        ]
    )

    apply_retention()

    assert {d["_id"] for d in db["event_log"].find({"tenant_id": tenant})} == {ids["log"][1]}
    assert db["processed_events"].find_one({"_id": ids["ledger"][0]}) is None
    assert db["processed_events"].find_one({"_id": ids["ledger"][1]}) is not None
    kept = {d["_id"] for d in db["webhook_deliveries"].find({"tenant_id": tenant})}
    gone = {deliveries[("delivered", "old")], deliveries[("dead", "old")]}
    assert kept == set(deliveries.values()) - gone
    assert {d["_id"] for d in db["admin_audit"].find({"tenant_id": tenant})} == {ids["audit"][1]}
    (run,) = db[RUNS].find({"tenant_id": tenant})
    assert run["deleted"] == {"event_log": 1, "webhook_deliveries": 2, "admin_audit": 1}
    assert (
        db[RUNS].find_one({"tenant_id": "*", "run_id": run["run_id"]})["deleted"][
            "processed_events"
        ]
        >= 1
    )
