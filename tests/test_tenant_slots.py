"""Per-tenant concurrency slots on the real Redis: the cap holds across holders, one tenant's
slots never block another's, and a holder that dies frees its slot when it expires."""

from __future__ import annotations

import secrets
import time

import redis

from storage.tenant_slots import TenantSlots


def slots(client: redis.Redis) -> TenantSlots:
    return TenantSlots(client, prefix="parley:test-slots:" + secrets.token_hex(4))


def test_a_tenant_holds_at_most_its_cap_and_others_are_not_blocked(
    redis_client: redis.Redis,
) -> None:
    s = slots(redis_client)
    taken = [s.take("deliver", "flooder", f"task-{i}", 3, 60) for i in range(5)]
    assert taken == [True, True, True, False, False]
    assert s.take("deliver", "quiet", "task-q", 3, 60)  # another tenant: its own slots
    assert s.take("process", "flooder", "task-p", 3, 60)  # another stage: its own slots
    s.give_back("deliver", "flooder", "task-0")
    assert s.take("deliver", "flooder", "task-3", 3, 60)
    assert not s.take("deliver", "flooder", "task-4", 3, 60)
    assert s.held("deliver", "flooder") == 3


def test_taking_again_is_idempotent_for_the_same_holder(redis_client: redis.Redis) -> None:
    s = slots(redis_client)
    assert s.take("generate", "t", "task-1", 1, 60)
    assert s.take("generate", "t", "task-1", 1, 60)  # a redelivered task keeps its slot
    assert not s.take("generate", "t", "task-2", 1, 60)


def test_a_slot_whose_holder_died_expires(redis_client: redis.Redis) -> None:
    s = slots(redis_client)
    assert s.take("deliver", "t", "dead-worker", 1, 0.2)
    assert not s.take("deliver", "t", "task-2", 1, 60)
    deadline = time.monotonic() + 5
    while not s.take("deliver", "t", "task-2", 1, 60):
        assert time.monotonic() < deadline, "the dead holder's slot never expired"
        time.sleep(0.05)


def test_a_capped_task_waits_longer_each_time_it_is_put_back() -> None:
    from tasks.fairness import REQUEUE_MAX_SECONDS, requeue_countdown

    first = [requeue_countdown(0) for _ in range(200)]
    later = [requeue_countdown(12) for _ in range(200)]
    assert all(0.25 <= wait <= 0.5 for wait in first)
    assert all(REQUEUE_MAX_SECONDS / 2 <= wait <= REQUEUE_MAX_SECONDS for wait in later)
    assert len(set(later)) > 1  # jittered
