"""Poison detection counts only redeliveries and leaves nothing behind: finished tasks keep no
counter in Redis, and an attempt delivered more than five times is still dead-lettered."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from processes import running_platform
from pymongo.database import Database
from testenv import ENGINE_PORT, free_port

from core.ids import new_id
from core.settings import Settings
from core.timeutil import utcnow
from core.tokens import mint_token
from storage.dead_letters import DeadLetterRepository
from tasks.base import MAX_REDELIVERIES, REDELIVERIES_PREFIX
from tasks.process import process

MESSAGES = 5


def accepted_message(db: Database[Any], tenant: str) -> str:
    message_id = new_id("msg")
    now = utcnow()
    db["messages"].insert_one(
        {
            "_id": message_id,
            "tenant_id": tenant,
            "conversation_id": "conv_" + message_id[4:],
            "channel": "api",
            "direction": "inbound",
            "user_id": "ana",
            "text": "hello",
            "metadata": {},
            "dedupe_key": f"msg:{message_id}",
            "status": "accepted",
            "journey": {"accepted": now},
            "created_at": now,
            "updated_at": now,
        }
    )
    return message_id


def counters(redis_client: redis.Redis) -> list[bytes]:
    return list(redis_client.scan_iter(match=f"{REDELIVERIES_PREFIX}*", count=1000))


@pytest.fixture
def delivery() -> Iterator[Any]:
    """Runs ``process`` under a task request as a worker would set it up, first or redelivered."""
    pushed = 0

    def deliver(task_id: str, *, redelivered: bool) -> None:
        nonlocal pushed
        process.push_request(
            id=task_id, retries=0, called_directly=False, delivery_info={"redelivered": redelivered}
        )
        pushed += 1

    yield deliver
    for _ in range(pushed):
        process.pop_request()


def test_a_first_delivery_is_not_counted(
    delivery: Any, redis_client: redis.Redis, tenant: str
) -> None:
    delivery("task-" + secrets.token_hex(4), redelivered=False)

    assert process._count_redelivery(tenant) is None
    assert counters(redis_client) == []


def test_an_attempt_delivered_more_than_five_times_is_dead_lettered_as_poison(
    delivery: Any, redis_client: redis.Redis, db: Database[Any], tenant: str
) -> None:
    message_id = accepted_message(db, tenant)
    delivery("task-" + secrets.token_hex(4), redelivered=True)
    for _ in range(MAX_REDELIVERIES - 1):
        process._count_redelivery(tenant)  # each of these deliveries killed its worker
    (key,) = counters(redis_client)
    visibility = process.app.conf.broker_transport_options["visibility_timeout"]
    assert 0 < redis_client.ttl(key) <= visibility * (MAX_REDELIVERIES + 1)

    assert process(tenant, message_id) == message_id

    letter = DeadLetterRepository(db).get(tenant, f"dl_{message_id}_process")
    assert letter["last_error"]["classification"] == "poison"
    stored = db["messages"].find_one({"_id": message_id})
    assert stored is not None
    assert stored["status"] == "dead_lettered"
    assert counters(redis_client) == []


def test_a_redelivered_task_that_finishes_deletes_its_counter(
    delivery: Any, redis_client: redis.Redis, tenant: str
) -> None:
    delivery("task-" + secrets.token_hex(4), redelivered=True)

    assert process(tenant, "msg_gone") == "msg_gone"  # nothing to process: it just returns

    assert counters(redis_client) == []


@pytest.mark.e2e
def test_tasks_that_completed_on_real_workers_leave_no_counter_in_redis(
    tmp_path: Path,
    db: Any,
    broker: redis.Redis,
    redis_client: redis.Redis,
    settings: Settings,
    tenant: str,
) -> None:
    token = mint_token(settings.require_jwt_secret(), tenant, "ops", 600)
    headers = {"Authorization": f"Bearer {token}"}
    with running_platform(tmp_path, ENGINE_PORT, free_port()) as (base, _):
        ids = []
        for n in range(MESSAGES):
            accepted = httpx.post(
                f"{base}/v1/messages", headers=headers, json={"user_id": f"u{n}", "text": "hi"}
            )
            assert accepted.status_code == 202, accepted.text
            ids.append(accepted.json()["message_id"])
        deadline = time.monotonic() + 120
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            for message_id in sorted(pending):
                shown = httpx.get(f"{base}/v1/messages/{message_id}", headers=headers).json()
                if shown["status"] == "completed":
                    pending.discard(message_id)
            time.sleep(0.3)
        assert not pending, f"{len(pending)} of {MESSAGES} turns did not complete"

    assert counters(redis_client) == []
