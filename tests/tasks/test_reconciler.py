"""The reconciler re-drives quiet turns, is patient with those that wait behind a backlog, never
re-drives a turn parked behind an earlier one, and wakes a parked turn whose hand-over was lost."""

from __future__ import annotations

import json
import threading
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
from storage.turn_order import TurnOrder
from tasks.maintenance import BACKLOG_PATIENCE, reconcile


@pytest.fixture
def generate_queue(broker: redis.Redis) -> Iterator[redis.Redis]:
    broker.delete("generate")
    yield broker
    broker.delete("generate")


def _quiet_turn(
    db: Database[Any], tenant: str, quiet_seconds: float, conversation_id: str | None = None
) -> str:
    repo = MessageRepository(db)
    message_id = new_id("msg")
    now = utcnow()
    repo.insert_once(
        {
            "_id": message_id,
            "tenant_id": tenant,
            "conversation_id": conversation_id or "conv_" + message_id[-12:],
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


def _queued(queue: redis.Redis, tenant: str) -> list[str]:
    """The arguments of the tenant's tasks waiting in the generate queue (the reconciler looks
    at every tenant's quiet turns, other tests' included)."""
    tasks = [json.loads(raw)["headers"]["argsrepr"] for raw in queue.lrange("generate", 0, -1)]
    return [args for args in tasks if args.startswith(repr((tenant,))[:-2])]


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


@pytest.fixture
def order(redis_client: redis.Redis) -> TurnOrder:
    turns = TurnOrder(redis_client)
    turns.rebuild([])  # a running platform's index: intact
    return turns


def test_a_turn_parked_behind_an_earlier_one_is_never_redriven_for_waiting(
    db: Database[Any],
    settings: Settings,
    tenant: str,
    generate_queue: redis.Redis,
    order: TurnOrder,
) -> None:
    quiet = settings.reconcile_after_seconds * (BACKLOG_PATIENCE + 1)
    conversation = "conv_" + new_id("c")[-12:]
    first = _quiet_turn(db, tenant, quiet, conversation)  # its task was lost
    second = _quiet_turn(db, tenant, quiet, conversation)  # waits for the first
    for turn in (first, second):
        order.open(tenant, conversation, turn)
    order.park(tenant, conversation, "generate", second)

    reconcile()
    assert _redriven(db, first) == 1
    assert _redriven(db, second) == 0
    assert order.parked([(tenant, conversation, "generate", second)]) == [True]
    assert _queued(generate_queue, tenant) == [repr((tenant, first))]  # and nothing else


def test_a_parked_turn_whose_hand_over_was_lost_is_woken_not_redriven(
    db: Database[Any],
    settings: Settings,
    tenant: str,
    generate_queue: redis.Redis,
    order: TurnOrder,
) -> None:
    quiet = settings.reconcile_after_seconds * (BACKLOG_PATIENCE + 1)
    conversation = "conv_" + new_id("c")[-12:]
    first = _quiet_turn(db, tenant, quiet, conversation)
    second = _quiet_turn(db, tenant, quiet, conversation)
    for turn in (first, second):
        order.open(tenant, conversation, turn)
    order.park(tenant, conversation, "generate", second)
    # The first turn generated, then its worker died before it handed over.
    db["messages"].update_one({"_id": first}, {"$set": {"status": Status.GENERATED.value}})

    reconcile()
    assert _redriven(db, second) == 0
    assert order.parked([(tenant, conversation, "generate", second)]) == [False]
    assert _queued(generate_queue, tenant) == [repr((tenant, second))]


def test_two_reconcilers_at_once_redrive_a_stuck_turn_once(
    db: Database[Any], settings: Settings, tenant: str, generate_queue: redis.Redis
) -> None:
    stuck = _quiet_turn(db, tenant, settings.reconcile_after_seconds * (BACKLOG_PATIENCE + 1))
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        reconcile()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _queued(generate_queue, tenant) == [repr((tenant, stuck))]
    assert _redriven(db, stuck) == 1


def test_a_woken_turn_waiting_in_its_queue_is_not_redriven_as_well(
    db: Database[Any],
    settings: Settings,
    tenant: str,
    generate_queue: redis.Redis,
    order: TurnOrder,
) -> None:
    from tasks.ordering import pass_stage
    from tasks.runtime import clients

    quiet = settings.reconcile_after_seconds * (BACKLOG_PATIENCE + 1)
    conversation = "conv_" + new_id("c")[-12:]
    first = _quiet_turn(db, tenant, quiet, conversation)
    second = _quiet_turn(db, tenant, quiet, conversation)  # parked for a long while
    for turn in (first, second):
        order.open(tenant, conversation, turn)
    order.park(tenant, conversation, "generate", second)
    db["messages"].update_one({"_id": first}, {"$set": {"status": Status.COMPLETED.value}})
    db["open_turns"].delete_one({"_id": first})
    pass_stage(clients(), tenant, conversation, first, "generate")  # hands over: second woken

    reconcile()
    assert _queued(generate_queue, tenant) == [repr((tenant, second))]  # the wake, only
    assert _redriven(db, second) == 0


def test_a_quiet_turn_without_updated_at_is_redriven_and_does_not_stop_the_pass(
    db: Database[Any], settings: Settings, tenant: str, generate_queue: redis.Redis
) -> None:
    quiet = settings.reconcile_after_seconds * (BACKLOG_PATIENCE + 1)
    bare = _quiet_turn(db, tenant, quiet)
    db["messages"].update_one({"_id": bare}, {"$unset": {"updated_at": ""}})
    other = _quiet_turn(db, tenant, quiet)
    generate_queue.lpush("generate", json.dumps({"someone": "else's task"}))  # a backlog

    reconcile()
    assert _redriven(db, bare) == 1
    assert _redriven(db, other) == 1
