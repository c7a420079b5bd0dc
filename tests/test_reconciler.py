"""The reconciler re-drives quiet turns, and is patient with those that wait behind a backlog."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from pymongo.database import Database

from core.ids import new_id
from core.settings import Settings
from core.states import Status
from core.timeutil import utcnow
from storage.messages import MessageRepository
from tasks.maintenance import BACKLOG_PATIENCE, reconcile


@pytest.fixture
def generate_queue(broker: redis.Redis) -> Iterator[redis.Redis]:
    broker.delete("generate")
    yield broker
    broker.delete("generate")


def _quiet_turn(db: Database[Any], tenant: str, quiet_seconds: float) -> str:
    repo = MessageRepository(db)
    message_id = new_id("msg")
    now = utcnow()
    repo.insert_once(
        {
            "_id": message_id,
            "tenant_id": tenant,
            "conversation_id": "conv_" + message_id[-12:],
            "channel": "api",
            "direction": "inbound",
            "user_id": "ana",
            "text": "hi",
            "dedupe_key": f"msg:{message_id}",
            "status": Status.PROCESSED.value,
            "journey": {"accepted": now, "processed": now},
            "created_at": now,
            "updated_at": now,
        }
    )
    quiet_since = now - timedelta(seconds=quiet_seconds)
    db["messages"].update_one({"_id": message_id}, {"$set": {"updated_at": quiet_since}})
    db["open_turns"].update_one({"_id": message_id}, {"$set": {"at": quiet_since}})
    return message_id


def _redriven(db: Database[Any], message_id: str) -> int:
    return int((db["messages"].find_one({"_id": message_id}) or {}).get("redriven", 0))


def test_a_quiet_turn_waits_while_its_stage_has_a_backlog_then_is_redriven(
    db: Database[Any], settings: Settings, tenant: str, generate_queue: redis.Redis
) -> None:
    after = settings.reconcile_after_seconds
    waiting = _quiet_turn(db, tenant, after * 2)  # quiet, but not past the patience
    generate_queue.lpush("generate", json.dumps({"someone": "else's task"}))

    reconcile()
    assert _redriven(db, waiting) == 0  # likely still queued behind the backlog

    long_quiet = _quiet_turn(db, tenant, after * (BACKLOG_PATIENCE + 1))
    reconcile()
    assert _redriven(db, long_quiet) == 1  # lost or not, it has waited long enough
    assert _redriven(db, waiting) == 0

    generate_queue.delete("generate")  # the backlog is gone: nothing hides a lost task now
    reconcile()
    assert _redriven(db, waiting) == 1
    assert generate_queue.llen("generate") >= 1  # the re-driven turn's task is queued
