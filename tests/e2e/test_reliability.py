"""Reliability end to end: rate limits honoured, dead letters replayed exactly once, and
replies of one conversation delivered in order while many others run at once."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from channel_scenarios import MessengerScenario
from processes import CHAIN_QUEUES, ProcessGroup, running_platform
from pymongo.database import Database
from testenv import ENGINE_PORT, free_port

from core.settings import Settings
from core.tokens import mint_token
from tests.fakes.messenger import FakeMessenger
from tests.fakes.messenger import inbound_text as fb_inbound_text
from tests.fakes.messenger import signed_webhook as fb_signed

pytestmark = pytest.mark.e2e

MAX_ATTEMPTS = 3


class Stack:
    def __init__(
        self, base: str, fake: FakeMessenger, group: ProcessGroup, env: dict[str, str]
    ) -> None:
        self.base = base
        self.fake = fake
        self.group = group
        self.env = env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, db: Any, broker: Any) -> Iterator[Stack]:
    logs: Path = tmp_path_factory.mktemp("reliability-logs")
    with ExitStack() as stack:
        fake = stack.enter_context(FakeMessenger())
        env = {
            "PARLEY_MESSENGER_API_BASE": fake.base_url,
            "PARLEY_DELIVERY_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        }
        base, group = stack.enter_context(running_platform(logs, ENGINE_PORT, free_port(), env))
        yield Stack(base, fake, group, env)


def headers(settings: Settings, tenant: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {mint_token(settings.require_jwt_secret(), tenant, 'ops', 600)}"
    }


def connect(stack: Stack, settings: Settings, tenant: str, scenario: MessengerScenario) -> str:
    stack.fake.add_page(scenario.account_id, scenario.page_token)  # the page token proves it
    created = httpx.post(
        f"{stack.base}/v1/admin/channels",
        headers=headers(settings, tenant),
        json=scenario.registration(),
    )
    assert created.status_code == 201, created.text
    return f"{stack.base}/webhooks/messenger/{created.json()['id']}"


def sends_to(fake: FakeMessenger, psid: str) -> list[tuple[float, dict[str, Any]]]:
    """(time received, body) of every send attempt to ``psid``, failed ones included."""
    return [
        (r.received_at, r.json())
        for r in list(fake.requests)
        if r.path.endswith("/me/messages")
        and not fake.is_indicator(r)  # a typing indicator is no send
        and r.json()["recipient"]["id"] == psid
    ]


def wait_for(probe: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1.0)  # probes scan on FerretDB: polling fast would slow the workers
    raise AssertionError(f"timed out waiting for {what}")


def test_a_throttling_provider_is_waited_out_at_its_retry_after_whatever_the_attempts(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    """More refusals than the policy's attempts: throttling refuses nothing for good, so the
    reply waits each Retry-After out and goes, nothing dead-lettered."""
    scenario = MessengerScenario()
    url = connect(stack, settings, tenant, scenario)
    stack.fake.fail_with_rate_limit(retry_after=3, status=429, times=MAX_ATTEMPTS + 1)
    raw, signed = scenario.inbound_text("What are your opening hours?")
    assert httpx.post(url, content=raw, headers=signed).status_code == 200

    wait_for(
        lambda: db["messages"].find_one({"tenant_id": tenant, "status": "completed"}),
        "the throttled turn to complete",
        timeout=120,
    )
    attempts = sends_to(stack.fake, scenario.user)
    assert len(attempts) == MAX_ATTEMPTS + 2  # every refusal, then the send that went
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(attempts)]
    assert all(gap >= 3.0 for gap in gaps), gaps
    assert db["dead_letters"].count_documents({"tenant_id": tenant}) == 0


def test_failing_sends_dead_letter_when_the_attempts_run_out_and_replay_once(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    scenario = MessengerScenario()
    url = connect(stack, settings, tenant, scenario)
    for _ in range(MAX_ATTEMPTS):
        stack.fake.fail_with_server_error()
    raw, signed = scenario.inbound_text("What are your opening hours?")
    assert httpx.post(url, content=raw, headers=signed).status_code == 200

    dead = wait_for(
        lambda: httpx.get(
            f"{stack.base}/v1/dead-letters", headers=headers(settings, tenant)
        ).json()["data"],
        "the dead letter",
        timeout=120,
    )
    assert len(sends_to(stack.fake, scenario.user)) == MAX_ATTEMPTS
    (letter,) = dead
    assert letter["stage"] == "deliver"
    assert letter["attempts"] == MAX_ATTEMPTS
    assert letter["last_error"]["classification"] == "exhausted"
    assert letter["last_error"]["type"] == "SendFailed"

    replay = f"{stack.base}/v1/dead-letters/{letter['id']}/replay"
    assert httpx.post(replay, headers=headers(settings, tenant)).status_code == 202
    wait_for(
        lambda: db["messages"].find_one({"tenant_id": tenant, "status": "completed"}),
        "the replayed turn to complete",
    )
    again = httpx.post(replay, headers=headers(settings, tenant))
    assert again.status_code == 409
    time.sleep(1.5)  # room for a second send, if the second replay had made one
    delivered = [body for _, body in sends_to(stack.fake, scenario.user)][MAX_ATTEMPTS:]
    assert len(delivered) == 1
    assert delivered[0]["message"]["text"] == "We are open Monday to Friday, 9:00 to 18:00."


def test_ten_quick_messages_are_answered_in_order_while_fifty_conversations_run(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    scenario = MessengerScenario()
    url = connect(stack, settings, tenant, scenario)
    others = [MessengerScenario() for _ in range(50)]

    def burst() -> list[str]:
        mids = []
        for n in range(10):
            mid = f"m_FAKEorder{n:02d}{scenario.user}"
            raw, signed = fb_signed(
                fb_inbound_text(scenario.account_id, scenario.user, f"hello {n}", mid=mid),
                scenario.app_secret,
            )
            assert httpx.post(url, content=raw, headers=signed).status_code == 200
            mids.append(mid)
        return mids

    def other(s: MessengerScenario) -> int:
        raw, signed = fb_signed(
            fb_inbound_text(scenario.account_id, s.user, "hi"), scenario.app_secret
        )
        return httpx.post(url, content=raw, headers=signed).status_code

    with ThreadPoolExecutor(8) as pool:
        ordered = pool.submit(burst)
        statuses = list(pool.map(other, others))
        mids = ordered.result()
    assert statuses == [200] * 50
    wait_for(
        lambda: (
            db["messages"].count_documents(
                {"tenant_id": tenant, "direction": "inbound", "status": "completed"}
            )
            == 60
        ),
        "all 60 turns to complete",
        timeout=300,  # one worker per stage, concurrency 1: a loaded machine needs its time
    )
    answered = [body["message"]["metadata"] for _, body in sends_to(stack.fake, scenario.user)]
    assert answered == _replies_in_order(db, tenant, mids)


def _replies_in_order(db: Database[Any], tenant: str, mids: list[str]) -> list[str]:
    """The replies that answered the messages ``mids`` (provider ids), in the order the user
    wrote them, each once: messages that waited behind a turn of their conversation are
    answered together by one reply (docs/bursts.md), which names them all. Every message must
    have been answered, by a reply that answers it."""
    inbound = {
        m["provider_message_id"]: m
        for m in db["messages"].find({"tenant_id": tenant, "direction": "inbound"})
    }
    replies = {
        m["_id"]: m for m in db["messages"].find({"tenant_id": tenant, "direction": "outbound"})
    }
    for mid in mids:
        reply = replies[inbound[mid]["reply_id"]]
        assert inbound[mid]["_id"] in reply["answers"], (mid, reply["answers"])
    return list(dict.fromkeys(inbound[mid]["reply_id"] for mid in mids))


def _task_executions() -> int:
    """Tasks every worker has run so far (Celery's own counters, by ``inspect stats``)."""
    from tasks.app import app as celery_app

    stats = celery_app.control.inspect(timeout=2.0).stats() or {}
    return sum(sum(worker.get("total", {}).values()) for worker in stats.values())


def _wait_for_workers(count: int) -> None:
    from tasks.app import app as celery_app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(celery_app.control.ping(timeout=1.0) or []) >= count:
            return
    raise AssertionError(f"fewer than {count} workers answer a ping")


def test_a_burst_in_one_conversation_costs_no_more_than_twice_an_unhurried_turn(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    """Turns waiting for an earlier turn of their conversation park instead of polling: a
    burst costs at most twice the task executions of turns sent one at a time (4 each)."""
    scenario = MessengerScenario()
    url = connect(stack, settings, tenant, scenario)
    count = 60
    mids = [f"m_FAKEburst{n:03d}{scenario.user}" for n in range(count)]
    # One webhook carrying every message: they arrive at once, in this order.
    pages = [
        fb_inbound_text(scenario.account_id, scenario.user, f"hello {n}", mid=mid)
        for n, mid in enumerate(mids)
    ]
    batch = {**pages[0], "entry": [entry for page in pages for entry in page["entry"]]}
    raw, signed = fb_signed(batch, scenario.app_secret)
    # Several threads per ordered stage, as deployed: with one, a turn never finds another
    # still on its way, and nothing would wait.
    extra = ("generate", "deliver")
    for queue in extra:
        stack.group.start(
            f"burst-{queue}",
            "worker",
            queue,
            "--concurrency",
            "6",
            f"--hostname=burst-{queue}@%h",
            env=stack.env,
        )
    try:
        _wait_for_workers(len(CHAIN_QUEUES) + len(extra))
        before = _task_executions()
        # One request accepting every message: it takes a while on a loaded machine.
        assert httpx.post(url, content=raw, headers=signed, timeout=120).status_code == 200
        wait_for(
            lambda: (
                db["messages"].count_documents(
                    {"tenant_id": tenant, "direction": "inbound", "status": "completed"}
                )
                == count
            ),
            f"all {count} turns to complete",
            timeout=300,
        )
        executions = _task_executions() - before
    finally:
        for queue in extra:
            stack.group.stop(f"burst-{queue}")
    answered = [body["message"]["metadata"] for _, body in sends_to(stack.fake, scenario.user)]
    assert answered == _replies_in_order(db, tenant, mids)  # in order, each once
    print(f"{executions} task executions for {count} turns")
    assert executions <= 2 * 4 * count, f"{executions} task executions for {count} turns"


def test_a_worker_stopped_with_sigterm_finishes_its_send_and_nothing_is_sent_twice(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    scenario = MessengerScenario()
    url = connect(stack, settings, tenant, scenario)
    stack.fake.delay_next(4.0)  # the send is in flight when the worker is told to stop
    raw, signed = scenario.inbound_text("What are your opening hours?")
    assert httpx.post(url, content=raw, headers=signed).status_code == 200
    wait_for(lambda: sends_to(stack.fake, scenario.user), "the send to reach the provider")

    worker = stack.group.children["worker-deliver"]
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        assert worker.wait(timeout=60) == 0  # a warm shutdown: the task ran to its end first
        assert "Warm shutdown" in stack.group.log("worker-deliver", tail=None)
    finally:
        stack.group.start(
            "worker-deliver", "worker", "deliver", "--concurrency", "1", env=stack.env
        )
    wait_for(
        lambda: db["messages"].find_one({"tenant_id": tenant, "status": "completed"}),
        "the turn to complete",
    )
    time.sleep(3.0)  # room for a redelivered task to send again, had the first been lost
    sends = sends_to(stack.fake, scenario.user)
    assert len(sends) == 1
    reply = db["messages"].find_one({"tenant_id": tenant, "direction": "outbound"})
    assert reply is not None and reply["status"] == "sent"
