"""A tenant's retention_days deletes its old, finished data and nothing else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pymongo.database import Database

from core.ids import new_id
from core.timeutil import utcnow
from storage.uploads import UploadRepository
from tasks.maintenance import apply_retention


def _message(db: Database[Any], tenant: str, age: timedelta, status: str) -> str:
    message_id = new_id("msg")
    at = utcnow() - age
    db["messages"].insert_one(
        {
            "_id": message_id,
            "tenant_id": tenant,
            "conversation_id": f"conv_{tenant}",
            "direction": "inbound",
            "dedupe_key": f"msg:{message_id}",
            "status": status,
            "created_at": at,
            "updated_at": at,
        }
    )
    db["audit"].insert_one({"_id": f"turn:{message_id}", "tenant_id": tenant, "created_at": at})
    return message_id


def test_retention_deletes_a_tenants_old_finished_data_only(db: Database[Any], tenant: str) -> None:
    other = tenant + "_other"
    db["tenants"].insert_one({"_id": tenant, "name": "T", "state": "active", "retention_days": 7})
    old = timedelta(days=8)
    expired = _message(db, tenant, old, "completed")
    in_flight = _message(db, tenant, old, "generated")
    recent = _message(db, tenant, timedelta(days=1), "completed")
    untouched = _message(db, other, old, "completed")  # the other tenant keeps everything
    db["conversations"].insert_many(
        [
            {"_id": new_id("conv"), "tenant_id": tenant, "last_message_at": utcnow() - old},
            {"_id": new_id("conv"), "tenant_id": other, "last_message_at": utcnow() - old},
        ]
    )

    assert apply_retention() >= 1

    remaining = {doc["_id"] for doc in db["messages"].find({"tenant_id": {"$in": [tenant, other]}})}
    assert remaining == {in_flight, recent, untouched}
    assert db["audit"].find_one({"_id": f"turn:{expired}"}) is None
    assert db["audit"].find_one({"_id": f"turn:{recent}"}) is not None
    assert db["audit"].find_one({"_id": f"turn:{untouched}"}) is not None
    assert db["conversations"].count_documents({"tenant_id": tenant}) == 0
    assert db["conversations"].count_documents({"tenant_id": other}) == 1


def test_retention_deletes_a_tenants_old_widget_uploads(db: Database[Any], tenant: str) -> None:
    uploads = UploadRepository(db)
    other = tenant + "_other"
    db["tenants"].insert_one({"_id": tenant, "name": "T", "state": "active", "retention_days": 7})
    old, recent, theirs = (
        uploads.create(owner, "wgt_1", "vis_1", "image/png", "a.png", b"\x89PNG....")["_id"]
        for owner in (tenant, tenant, other)
    )
    eight_days_ago = utcnow() - timedelta(days=8)
    db["uploads"].update_many(
        {"_id": {"$in": [old, theirs]}}, {"$set": {"created_at": eight_days_ago}}
    )

    apply_retention()

    kept = {doc["_id"] for doc in db["uploads"].find({"tenant_id": {"$in": [tenant, other]}})}
    assert kept == {recent, theirs}
