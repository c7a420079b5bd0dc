"""The outbox's pending notes and the open-turn notes, on real FerretDB and Kafka.

The relay and the reconciler read notes instead of scanning messages; these tests pin what the
notes promise: an embedded event is published once and its note dropped from Kafka's report,
orphans are cleared only when old, and a turn that stopped moving is found through its note.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from kafka_reader import EventReader
from pymongo.database import Database
from redis import Redis

from core.chat_events import message_received
from core.ids import new_id
from core.settings import Settings
from core.states import Status
from core.timeutil import utcnow
from storage.event_sequence import EventSequencer
from storage.kafka_producer import EventPublisher
from storage.messages import MessageRepository
from storage.open_turns import OpenTurns
from storage.outbox import (
    LEAVE_TO_AUDIT,
    ORPHAN_AFTER,
    PENDING_COLLECTION,
    OutboxRelay,
    with_outbox,
)


def _inbound(tenant: str, text: str = "hello") -> dict[str, Any]:
    message_id = new_id("msg")
    now = utcnow()
    return {
        "_id": message_id,
        "tenant_id": tenant,
        "conversation_id": "conv_" + uuid.uuid4().hex[:12],
        "channel": "api",
        "direction": "inbound",
        "user_id": "ana",
        "text": text,
        "dedupe_key": f"msg:{message_id}",
        "status": Status.ACCEPTED.value,
        "journey": {"accepted": now},
        "created_at": now,
        "updated_at": now,
    }


def _age(db: Database[Any], collection: str, doc_id: str, by: timedelta, field: str) -> None:
    db[collection].update_one({"_id": doc_id}, {"$set": {field: utcnow() - by}})


def test_an_embedded_event_is_relayed_once_and_its_note_dropped_by_kafkas_report(
    db: Database[Any], settings: Settings, tenant: str
) -> None:
    repo = MessageRepository(db)
    doc = _inbound(tenant)
    event = message_received(doc)
    stored, created = repo.insert_once(with_outbox(doc, [event]))
    assert created
    assert db[PENDING_COLLECTION].find_one({"_id": event.id}) is not None
    _age(db, PENDING_COLLECTION, event.id, timedelta(minutes=1), "at")
    assert repo.advance(tenant, doc["_id"], Status.COMPLETED)  # the turn ended, unpublished
    stored = repo.get(tenant, doc["_id"])

    reader = EventReader(settings.kafka_bootstrap, [event.type])
    publisher = _publisher(settings)
    try:
        relay = _relay(db, publisher, settings)
        assert relay.relay(older_than_seconds=20, limit=1000, timeout=20) >= 1
        assert db[PENDING_COLLECTION].find_one({"_id": event.id}) is None
        # Nothing left to publish: a second run sends nothing of ours.
        relay.relay(older_than_seconds=20, limit=1000, timeout=20)
        seen = reader.collect(lambda events: any(e["id"] == event.id for e in events), 30)
        reader.collect(lambda _: False, 3)  # a late duplicate would show up here
        seen = reader.events()
    finally:
        reader.close()
        publisher.close()
    assert [e["id"] for e in seen].count(event.id) == 1
    # The document itself is never rewritten by the acknowledgement.
    assert db["messages"].find_one({"_id": stored["_id"]}) == stored


def test_notes_are_idempotent_and_a_lost_dedupe_race_leaves_no_note(
    db: Database[Any], settings: Settings, tenant: str
) -> None:
    repo = MessageRepository(db)
    doc = _inbound(tenant)
    repo.insert_once(with_outbox(doc, [message_received(doc)]))
    twin = {**_inbound(tenant), "dedupe_key": doc["dedupe_key"]}
    twin_event = message_received(twin)
    stored, created = repo.insert_once(with_outbox(twin, [twin_event]))
    assert not created and stored["_id"] == doc["_id"]
    assert db[PENDING_COLLECTION].find_one({"_id": twin_event.id}) is None
    assert db["open_turns"].find_one({"_id": twin["_id"]}) is None
    assert db["open_turns"].find_one({"_id": doc["_id"]}) is not None
    relay = _relay(db, _publisher(settings), settings)
    assert relay.pending.note("messages", doc["_id"], []) == []
    again = relay.pending.note("messages", doc["_id"], [message_received(doc).id, "other"])
    assert again == ["other"]  # the received event was noted when the message was stored


def _publisher(settings: Settings) -> EventPublisher:
    return EventPublisher(settings.kafka_bootstrap, client_id="parley-test-relay")


def _relay(db: Database[Any], publisher: EventPublisher, settings: Settings) -> OutboxRelay:
    return OutboxRelay(db, publisher, EventSequencer(Redis.from_url(settings.redis_url)))


def test_orphan_notes_are_cleared_only_once_older_than_any_write_takes(
    db: Database[Any], settings: Settings
) -> None:
    relay = _relay(db, _publisher(settings), settings)
    owner = new_id("msg")  # never stored: its write failed
    young, old = f"{owner}:young", f"{owner}:old"
    assert relay.pending.note("messages", owner, [young, old]) == [young, old]
    _age(db, PENDING_COLLECTION, young, timedelta(minutes=1), "at")
    _age(db, PENDING_COLLECTION, old, ORPHAN_AFTER + timedelta(minutes=1), "at")
    # (Other tests' leftovers in this database may be published by the same run.)
    relay.relay(older_than_seconds=20, limit=1000, timeout=10)
    assert db[PENDING_COLLECTION].find_one({"_id": young}) is not None
    assert db[PENDING_COLLECTION].find_one({"_id": old}) is None


def test_the_reconciler_finds_a_stalled_turn_through_its_note_and_clears_ended_ones(
    db: Database[Any], tenant: str
) -> None:
    repo = MessageRepository(db)
    stalled, finished, moving = _inbound(tenant), _inbound(tenant), _inbound(tenant)
    for doc in (stalled, finished, moving):
        repo.insert_once(doc)
    assert repo.advance(tenant, stalled["_id"], Status.PROCESSED)
    assert repo.advance(tenant, finished["_id"], Status.COMPLETED)
    assert db["open_turns"].find_one({"_id": finished["_id"]}) is None  # closed by the move

    never_stored = new_id("msg")
    OpenTurns(db).open(tenant, never_stored)
    an_hour = timedelta(hours=1)
    for doc_id in (stalled["_id"], moving["_id"], never_stored):
        _age(db, "open_turns", doc_id, an_hour, "at")
    _age(db, "messages", stalled["_id"], an_hour, "updated_at")

    now = utcnow()
    found = repo.stuck([Status.ACCEPTED, Status.PROCESSED], now - timedelta(seconds=30), now, 1000)
    ours = {doc["_id"] for doc in found if doc["tenant_id"] == tenant}
    assert ours == {stalled["_id"]}  # ``moving`` was updated just now
    assert db["open_turns"].find_one({"_id": never_stored}) is None
    assert db["open_turns"].find_one({"_id": moving["_id"]}) is not None


def test_a_replayed_turn_is_open_again(db: Database[Any], tenant: str) -> None:
    repo = MessageRepository(db)
    doc = _inbound(tenant)
    repo.insert_once(doc)
    assert repo.advance(tenant, doc["_id"], Status.DEAD_LETTERED)
    assert db["open_turns"].find_one({"_id": doc["_id"]}) is None
    assert repo.rewind(tenant, doc["_id"], Status.PROCESSED)
    assert db["open_turns"].find_one({"_id": doc["_id"]}) is not None
    assert not repo.rewind(tenant, doc["_id"], Status.PROCESSED)  # not parked any more


def test_the_relay_leaves_a_turn_in_flight_to_its_audit_stage_until_it_waits_too_long(
    db: Database[Any], settings: Settings, tenant: str
) -> None:
    repo = MessageRepository(db)
    doc = _inbound(tenant)
    event = message_received(doc)
    repo.insert_once(with_outbox(doc, [event]))
    _age(db, PENDING_COLLECTION, event.id, timedelta(minutes=1), "at")
    publisher = _publisher(settings)
    try:
        relay = _relay(db, publisher, settings)
        relay.relay(older_than_seconds=20, limit=1000, timeout=20)
        assert db[PENDING_COLLECTION].find_one({"_id": event.id}) is not None  # left to audit
        _age(db, PENDING_COLLECTION, event.id, LEAVE_TO_AUDIT + timedelta(minutes=1), "at")
        relay.relay(older_than_seconds=20, limit=1000, timeout=20)
        assert db[PENDING_COLLECTION].find_one({"_id": event.id}) is None  # published
    finally:
        publisher.close()
    assert db["open_turns"].find_one({"_id": doc["_id"]}) is not None  # still in flight


def test_a_publisher_kafka_did_not_answer_is_suspect_for_a_while() -> None:
    from testenv import free_port

    from storage.kafka_producer import StagedEvent

    nobody = EventPublisher(f"127.0.0.1:{free_port()}", client_id="parley-test-nobody")
    assert not nobody.suspect()
    event = StagedEvent("evt-1", "chat.test.unanswered", "k", "{}", "owner")
    acked = nobody.publish_staged([event], timeout=1.0, on_acknowledged=lambda _: None)
    assert acked == 0
    assert nobody.suspect()  # the audit stage leaves its events to the relay meanwhile


def test_chat_events_go_out_numbered_per_conversation_and_keep_their_number(
    db: Database[Any], settings: Settings, tenant: str
) -> None:
    repo = MessageRepository(db)
    first, second = _inbound(tenant, "one"), _inbound(tenant, "two")
    second["conversation_id"] = first["conversation_id"]
    other = _inbound(tenant, "elsewhere")  # a conversation of its own starts at 1
    events = [message_received(doc) for doc in (first, second, other)]
    for doc, event in zip((first, second, other), events, strict=True):
        repo.insert_once(with_outbox(doc, [event]))
        assert repo.advance(tenant, doc["_id"], Status.COMPLETED)
    reader = EventReader(settings.kafka_bootstrap, ["chat.message.received"])
    publisher = _publisher(settings)
    try:
        relay = _relay(db, publisher, settings)
        stored = [repo.get(tenant, doc["_id"]) for doc in (first, second, other)]
        assert relay.publish_documents(stored, timeout=20) == 3
        # Kafka's report was lost: the same events are published again, numbers unchanged.
        for event in events:
            relay.pending.note("messages", event.subject, [event.id])
        assert relay.publish_documents(stored[::-1], timeout=20) == 3
        ids = {event.id for event in events}
        reader.collect(lambda seen: sum(e["id"] in ids for e in seen) >= 6, 30)
        seen = [e for e in reader.events() if e["id"] in ids]
    finally:
        reader.close()
        publisher.close()
    numbers = {(e["id"], e["data"]["sequence"]) for e in seen}
    assert numbers == {(events[0].id, 1), (events[1].id, 2), (events[2].id, 1)}
