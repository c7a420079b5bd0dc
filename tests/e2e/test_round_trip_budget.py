"""A whole turn's round trips to MongoDB and Redis, counted and held to ``round_trips.BUDGET``.

The message comes in through the real ingress app (its lifespan, authentication, rate limit and
accept path, over ASGI in this process), and each stage task then runs here as a worker runs it
(``StageTask.__call__``: tenant slots, redelivery counting, the outbox relay to real Kafka), on
the real Redis and MongoDB-wire server, against a real gRPC engine. The count is exact, not a
timing: each command the stores answer is counted once, by ``storage.round_trips``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import redis
from engines import CountingBackend

from core.settings import Settings
from storage.messages import reply_id
from storage.round_trips import BUDGET, REFRESHES, Tally, counting
from tasks.audit import audit
from tasks.deliver import deliver
from tasks.generate import generate
from tasks.process import process
from tests.credentials import admin_headers, new_tenant_id, tenant_headers

pytestmark = pytest.mark.e2e


async def _turns(
    settings: Settings, tenant: str, texts: list[str]
) -> list[tuple[str, dict[str, Tally]]]:
    """Each text as one turn of one user's conversation, through the ingress and every stage;
    the round trips of each part of each turn."""
    from ingress.asgi import app

    turns = []
    async with app.router.lifespan_context(app) as lifespan_state:
        # What an ASGI server does with the state the lifespan yields: each request's copy.
        async def serve_app(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = dict(lifespan_state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=serve_app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
            created = await client.post(
                "/v1/admin/tenants",
                headers=admin_headers(settings),
                json={"id": tenant, "name": tenant},
            )
            assert created.status_code == 201, created.text
            headers = tenant_headers(settings, tenant)
            for text in texts:
                with counting() as at_ingress:
                    response = await client.post(
                        "/v1/messages", headers=headers, json={"user_id": "ana", "text": text}
                    )
                assert response.status_code == 202, response.text
                message_id = response.json()["message_id"]
                tallies = {"accept": at_ingress}
                for stage in (process, generate, deliver, audit):
                    with counting() as tally:
                        await asyncio.to_thread(stage, tenant, message_id)
                    tallies[stage.name] = tally
                turns.append((message_id, tallies))
    return turns


def _report(name: str, tally: Tally) -> str:
    return (
        f"{name}: mongo {tally.mongo} {tally.mongo_commands}; redis {tally.redis} "
        f"{tally.redis_commands}"
    )


def test_a_turn_stays_within_its_round_trip_budget(
    engine: CountingBackend,
    db: Any,
    redis_client: redis.Redis,
    broker: redis.Redis,
    settings: Settings,
) -> None:
    tenant = new_tenant_id()
    # The first turn opens the conversation, the second is a follow-up like the one counted:
    # together they warm what a long-running process holds (connections, the tenant's cache
    # entry, every Lua script a turn runs loaded into Redis, which a restarted Redis forgets),
    # and the first tells the conversation's language, as a follow-up finds it (a message told
    # in another language than the last costs one Redis write more: the hint's).
    # The budget is the third turn's.
    texts = ["Hello, I would like to ask you something", "Thanks", "What are your opening hours?"]
    *_warm, (message_id, turn) = asyncio.run(_turns(settings, tenant, texts))
    report = "\n".join(_report(name, tally) for name, tally in turn.items())
    print(report)

    # The turn happened, once: the engine asked once, the reply delivered and the turn audited.
    assert engine.calls.count(message_id) == 1
    reply = db["messages"].find_one({"_id": reply_id(message_id)})
    assert reply is not None and reply["status"] == "delivered", report
    inbound = db["messages"].find_one({"_id": message_id})
    assert inbound is not None and inbound["status"] == "completed", report

    # The tenant's record is read once a second or so by each process, so whether this turn
    # met an expired copy depends on the clock: at most one such read a part, outside the count.
    for tally in turn.values():
        for refresh in REFRESHES:
            assert tally.mongo_commands.count(refresh) <= 1, report
    mongo = sum(
        1 for tally in turn.values() for name in tally.mongo_commands if name not in REFRESHES
    )
    redis_trips = sum(tally.redis for tally in turn.values())
    assert mongo <= BUDGET["mongo"], report
    assert redis_trips <= BUDGET["redis"], report
