"""The idle beat job closes open conversations silent past their tenant's timeout (its own
setting, else the platform default), at most its limit a pass, and publishes each close's
``chat.conversation.ended`` to Kafka once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis
from kafka_reader import EventReader
from pymongo.database import Database

from core.settings import Settings
from core.timeutil import utcnow
from storage.conversations import ConversationRepository
from storage.event_sequence import EventSequencer
from storage.kafka_producer import EventPublisher
from storage.outbox import OutboxRelay
from storage.sessions import SessionStore, session_key
from storage.visitor_streams import decode_entry, stream_key
from tasks.maintenance import close_idle_conversations


def _silent(db: Database[Any], conversation_id: str, minutes: float) -> None:
    db["conversations"].update_one(
        {"_id": conversation_id},
        {"$set": {"last_message_at": utcnow() - timedelta(minutes=minutes)}},
    )


def test_idle_conversations_close_by_their_tenants_timeout_and_end_once_on_kafka(
    db: Database[Any], redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    own, plain = tenant, tenant + "d"  # ``own`` sets 5 minutes; ``plain`` has the default
    db["tenants"].insert_one(
        {"_id": own, "name": "Own", "state": "active", "conversation_idle_minutes": 5}
    )
    repo = ConversationRepository(db, 0, redis_client)
    stale = repo.resolve_open(own, "api", "ana", "m1")
    fresh = repo.resolve_open(own, "api", "bea", "m2")
    plain_recent = repo.resolve_open(plain, "api", "ana", "m3")
    plain_stale = repo.resolve_open(plain, "api", "bea", "m4")
    _silent(db, stale, 10)
    _silent(db, fresh, 1)
    _silent(db, plain_recent, 10)  # silent past ``own``'s timeout, not past the default
    _silent(db, plain_stale, settings.conversation_idle_minutes + 10)
    SessionStore(redis_client, 600).refresh(own, stale, "ana", "api")

    reader = EventReader(settings.kafka_bootstrap, ["chat.conversation.ended"])
    publisher = EventPublisher(settings.kafka_bootstrap, client_id="parley-test-idle")
    try:
        assert close_idle_conversations(limit=1000) >= 2
        OutboxRelay(db, publisher, EventSequencer(redis_client)).relay(
            older_than_seconds=0, limit=1000, timeout=20
        )
        wanted = {stale, plain_stale}
        reader.collect(lambda events: wanted <= {e["subject"] for e in events}, 30)
        reader.collect(lambda _: False, 3)  # a late duplicate would show up here
        subjects = [e["subject"] for e in reader.events()]
    finally:
        reader.close()
        publisher.close()

    def state(conversation_id: str) -> tuple[str, str | None]:
        doc = db["conversations"].find_one({"_id": conversation_id})
        assert doc is not None
        return doc["state"], doc.get("close_reason")

    assert state(stale) == ("closed", "idle")
    assert state(plain_stale) == ("closed", "idle")
    assert state(fresh) == ("open", None)
    assert state(plain_recent) == ("open", None)
    assert subjects.count(stale) == subjects.count(plain_stale) == 1
    assert fresh not in subjects and plain_recent not in subjects
    assert redis_client.exists(session_key(own, stale)) == 0
    # The user's next message opens a new conversation.
    assert repo.resolve_open(own, "api", "ana", "m5") != stale


def test_a_pass_closes_at_most_its_limit(
    db: Database[Any], redis_client: redis.Redis, tenant: str
) -> None:
    db["tenants"].insert_one(
        {"_id": tenant, "name": "T", "state": "active", "conversation_idle_minutes": 1}
    )
    repo = ConversationRepository(db, 0, redis_client)
    ids = [repo.resolve_open(tenant, "api", f"u{n}", f"m{n}") for n in range(3)]
    for conversation_id in ids:
        _silent(db, conversation_id, 5)

    def still_open() -> int:
        return db["conversations"].count_documents({"tenant_id": tenant, "state": "open"})

    close_idle_conversations(limit=1)
    assert still_open() >= 2  # the pass may have spent its one on another tenant's
    while still_open():
        assert close_idle_conversations(limit=1) == 1


def test_an_idle_web_conversation_ends_on_its_visitors_stream_once(
    db: Database[Any], redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    repo = ConversationRepository(db, 0, redis_client)
    web = repo.resolve_open(tenant, "web", "v_idle", "m1", scope="wgt_idle")
    _silent(db, web, settings.conversation_idle_minutes + 10)
    close_idle_conversations(limit=1000)
    close_idle_conversations(limit=1000)  # a second pass closes nothing and publishes nothing
    entries = redis_client.xrange(stream_key(tenant, "wgt_idle", "v_idle"))
    events = [decode_entry(entry_id, fields) for entry_id, fields in entries]
    assert [(e["type"], e["conversation_id"], e["reason"]) for e in events] == [
        ("conversation_ended", web, "idle")
    ]
