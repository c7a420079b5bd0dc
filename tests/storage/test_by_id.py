"""``storage.by_id`` evaluates filters in Python: it must agree with the server on every one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pymongo.database import Database

from core.ids import new_id
from core.timeutil import utcnow
from storage.by_id import delete_by_id, find_by_id, matches, update_by_id

NOW = utcnow().replace(microsecond=0)

DOCS: list[dict[str, Any]] = [
    {
        "tenant_id": "t_a",
        "status": "processed",
        "journey": {"accepted": NOW - timedelta(seconds=5), "processed": NOW},
        "updated_at": NOW,
        "sent_parts": 1,
        "provider_message_ids": ["p1", "p2"],
        "idempotency_key": "k1",
    },
    {"tenant_id": "t_b", "status": "accepted", "updated_at": NOW - timedelta(hours=1)},
    {"tenant_id": "t_a", "status": "sent", "sent_parts": None, "next_attempt_at": NOW},
]

FILTERS: list[dict[str, Any]] = [
    {"tenant_id": "t_a"},
    {"tenant_id": "t_b"},
    {"tenant_id": "t_a", "status": {"$in": ["accepted", "processed"]}},
    {"status": {"$in": []}},
    {"journey.processed": {"$exists": False}},
    {"journey.processed": {"$exists": True}},
    {"journey.accepted": {"$lte": NOW}},
    {"journey.accepted": {"$lt": NOW - timedelta(seconds=5)}},
    {"updated_at": {"$gt": NOW - timedelta(minutes=1)}, "tenant_id": "t_a"},
    {"updated_at": {"$gte": NOW}},
    {"updated_at": NOW},
    {"sent_parts": {"$in": [None, 1]}},
    {"sent_parts": {"$in": [None, 0]}},
    {"sent_parts": None},
    {"provider_message_ids": "p2"},
    {"provider_message_ids": "p3"},
    {"idempotency_key": "k1"},
    {"next_attempt_at": {"$lt": NOW}},
    {"missing.deeper": {"$exists": False}},
]


@pytest.fixture
def stored(db: Database[Any]) -> list[dict[str, Any]]:
    docs = [{"_id": new_id("byid"), **doc} for doc in DOCS]
    db["by_id_probe"].insert_many(docs)
    return docs


@pytest.mark.parametrize("conditions", FILTERS, ids=str)
def test_matches_agrees_with_the_server(
    db: Database[Any], stored: list[dict[str, Any]], conditions: dict[str, Any]
) -> None:
    collection = db["by_id_probe"]
    for doc in stored:
        server = collection.find_one({"_id": doc["_id"], **conditions}) is not None
        ours = find_by_id(collection, doc["_id"], conditions) is not None
        assert ours == server, (doc, conditions)
        assert matches(collection.find_one({"_id": doc["_id"]}) or {}, conditions) == server


def test_an_unknown_operator_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match=r"\$regex"):
        matches({"text": "hi"}, {"text": {"$regex": "h"}})


def test_a_projection_still_returns_the_fields_the_conditions_need(
    db: Database[Any], stored: list[dict[str, Any]]
) -> None:
    found = find_by_id(db["by_id_probe"], stored[0]["_id"], {"status": "processed"}, {"_id": 1})
    assert found is not None and found["status"] == "processed"
    assert "journey" not in found


def test_update_and_delete_happen_only_when_the_conditions_hold(
    db: Database[Any], stored: list[dict[str, Any]]
) -> None:
    collection = db["by_id_probe"]
    first = stored[0]["_id"]
    assert not update_by_id(collection, first, {"tenant_id": "t_b"}, {"$set": {"x": 1}})
    assert "x" not in (collection.find_one({"_id": first}) or {})
    assert update_by_id(collection, first, {"tenant_id": "t_a"}, {"$set": {"x": 1}})
    assert (collection.find_one({"_id": first}) or {})["x"] == 1
    assert not update_by_id(collection, "missing", {"tenant_id": "t_a"}, {"$set": {"x": 1}})

    assert not delete_by_id(collection, first, {"status": "sent"})
    assert collection.find_one({"_id": first}) is not None
    assert delete_by_id(collection, first, {"status": "processed"})
    assert collection.find_one({"_id": first}) is None
