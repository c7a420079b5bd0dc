"""A burst's stages as the workers run them (docs/bursts.md): one engine call answers the
conversation's waiting messages, a copy that stopped halfway is finished without a second call,
and the later messages pass deliver and audit with nothing to send."""

from __future__ import annotations

from typing import Any

import redis
from engines import CountingBackend
from pymongo.database import Database

from storage.messages import reply_id
from storage.outbox import PendingEvents
from storage.turn_order import TurnOrder
from tasks.audit import audit
from tasks.deliver import deliver
from tasks.generate import generate
from tasks.process import process
from tests.tasks.test_tasks import accept


def _burst(
    db: Database[Any], redis_client: redis.Redis, tenant: str, texts: list[str]
) -> list[str]:
    """The messages accepted in one conversation, each on its way in the turn order, and
    processed: all waiting for their reply."""
    order = TurnOrder(redis_client)
    order.rebuild([])
    ids = [accept(db, tenant, text) for text in texts]
    conversation = db["messages"].find_one({"_id": ids[0]})["conversation_id"]  # type: ignore[index]
    for message_id in ids:
        order.open(tenant, conversation, message_id)
        process(tenant, message_id)
    return ids


def _by_id(db: Database[Any], ids: list[str]) -> dict[str, dict[str, Any]]:
    return {doc["_id"]: doc for doc in db["messages"].find({"_id": {"$in": ids}})}


def test_the_first_turn_answers_every_waiting_message_with_one_engine_call(
    engine: CountingBackend, db: Database[Any], redis_client: redis.Redis, tenant: str
) -> None:
    ids = _burst(db, redis_client, tenant, ["hello", "what are your", "opening hours?"])
    rid = reply_id(ids[0])

    generate(tenant, ids[0])

    assert engine.calls == [ids[0]]
    stored = _by_id(db, [*ids, rid])
    assert [stored[i]["status"] for i in ids] == ["generated"] * 3
    assert {stored[i]["reply_id"] for i in ids} == {rid}
    assert stored[rid]["answers"] == ids
    assert stored[rid]["engine"]["intent"] == "opening_hours"  # the burst's text, not "hello"

    for message_id in ids[1:]:
        generate(tenant, message_id)  # their own generate finds them answered
    assert engine.calls == [ids[0]]
    for message_id in ids:
        deliver(tenant, message_id)
    reply_events = [entry["id"] for entry in _by_id(db, [rid])[rid]["outbox"]]
    pending = PendingEvents(db)
    for message_id in reversed(ids[1:]):  # the burst's later audits first: not theirs to publish
        audit(tenant, message_id)
    assert pending.pending_of(reply_events) == set(reply_events)
    audit(tenant, ids[0])
    assert pending.pending_of(reply_events) == set()  # published once, by the first's audit
    stored = _by_id(db, [*ids, rid])
    assert [stored[i]["status"] for i in ids] == ["completed"] * 3
    assert stored[rid]["status"] == "delivered"
    assert db["messages"].count_documents({"in_reply_to": {"$in": ids}}) == 1
    records = {doc["_id"]: doc for doc in db["audit"].find({"inbound_id": {"$in": ids}})}
    assert {record["reply_id"] for record in records.values()} == {rid}


def test_a_copy_that_stopped_after_storing_the_reply_is_finished_without_a_second_call(
    engine: CountingBackend, db: Database[Any], redis_client: redis.Redis, tenant: str
) -> None:
    ids = _burst(db, redis_client, tenant, ["hi", "are you open", "on sundays?"])
    rid = reply_id(ids[0])
    generate(tenant, ids[0])
    # As if the worker had stopped right after storing the reply: no message moved on.
    db["messages"].update_many(
        {"_id": {"$in": ids}}, {"$set": {"status": "processed"}, "$unset": {"reply_id": ""}}
    )

    generate(tenant, ids[0])  # the redelivered task

    assert engine.calls == [ids[0]]
    stored = _by_id(db, ids)
    assert [stored[i]["status"] for i in ids] == ["generated"] * 3
    assert {stored[i]["reply_id"] for i in ids} == {rid}


def test_a_message_the_pipeline_refused_ends_the_burst_and_gets_its_own_reply(
    engine: CountingBackend, db: Database[Any], redis_client: redis.Redis, tenant: str
) -> None:
    ids = _burst(db, redis_client, tenant, ["hello", "", "opening hours?"])  # "" is refused

    for message_id in ids:
        generate(tenant, message_id)

    stored = _by_id(db, ids)
    assert stored[ids[1]]["processing"]["refused"]
    assert [stored[i]["reply_id"] for i in ids] == [reply_id(i) for i in ids]
    assert engine.calls == [ids[0], ids[2]]  # the refusal is the policy's, not the engine's
