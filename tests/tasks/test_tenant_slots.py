"""Per-tenant concurrency slots on the real Redis: the cap holds across holders, one tenant's
slots never block another's, and a holder that dies frees its slot when it expires."""

from __future__ import annotations

import secrets
import time
from types import SimpleNamespace

import pytest
import redis
from celery.exceptions import Retry

from core.settings import Settings
from storage.tenant_slots import TenantSlots
from tasks.app import app
from tasks.backlog import only_tenant_waiting, queue_length
from tasks.fairness import tenant_slot
from tasks.runtime import clients


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


def test_a_cap_of_zero_always_takes_and_still_counts(redis_client: redis.Redis) -> None:
    s = slots(redis_client)
    assert s.take("deliver", "t", "task-1", 1, 60)
    assert not s.take("deliver", "t", "task-2", 1, 60)
    assert s.take("deliver", "t", "task-2", 0, 60)
    assert s.held("deliver", "t") == 2


def publish(broker: redis.Redis, queue: str, tenant_id: str, count: int = 1) -> None:
    """Tasks as kombu's Redis transport stores them, from Celery's own publisher."""
    for n in range(count):
        app.send_task("parley.deliver", args=(tenant_id, f"msg_{n}"), queue=queue)


def test_the_backlog_tells_whether_only_one_tenant_waits(broker: redis.Redis) -> None:
    queue = "test-backlog-" + secrets.token_hex(4)
    assert only_tenant_waiting(broker, queue, "acme", 10)  # nobody waits at all
    publish(broker, queue, "acme", 3)
    assert queue_length(broker, queue) == 3
    assert only_tenant_waiting(broker, queue, "acme", 10)
    assert not only_tenant_waiting(broker, queue, "acme", 2)  # longer than it looks at
    assert not only_tenant_waiting(broker, queue, "acm", 10)  # a prefix is another tenant
    publish(broker, queue, "globex")
    assert not only_tenant_waiting(broker, queue, "acme", 10)
    broker.delete(queue)


class StageStub:
    """What ``tenant_slot`` reads of a running stage task; ``retry`` raises like Celery's."""

    def __init__(self, stage: str) -> None:
        self.name = f"parley.{stage}"
        self.stage = stage
        self.request = SimpleNamespace(id=secrets.token_hex(8), called_directly=False, retries=0)

    def retry(self, countdown: float, max_retries: int | None) -> Exception:
        return Retry(when=countdown)


def test_a_tenant_over_its_cap_runs_only_while_nobody_else_waits(
    broker: redis.Redis, settings: Settings
) -> None:
    stage = "test-stage-" + secrets.token_hex(4)
    held = TenantSlots(clients().redis)
    for n in range(settings.tenant_stage_concurrency):
        assert held.take(f"parley.{stage}", "acme", f"running-{n}", 0, 60)
    publish(broker, stage, "acme", 5)  # its own backlog: the cap gives way

    with tenant_slot(StageStub(stage), "acme"):
        assert held.held(f"parley.{stage}", "acme") == settings.tenant_stage_concurrency + 1
    assert held.held(f"parley.{stage}", "acme") == settings.tenant_stage_concurrency

    publish(broker, stage, "globex")  # another tenant waits: the cap holds
    with pytest.raises(Retry), tenant_slot(StageStub(stage), "acme"):
        pytest.fail("ran over the cap while another tenant waited")
    with tenant_slot(StageStub(stage), "globex"):  # and the other tenant runs
        pass
    broker.delete(stage)
