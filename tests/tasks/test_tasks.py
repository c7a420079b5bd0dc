"""Each stage task on the real Redis, MongoDB-wire server, Kafka and a real gRPC engine.

The task bodies are called directly in this process (no broker); the whole chain through real
``celery worker`` processes is covered by test_end_to_end.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from engines import CountingBackend
from kafka_reader import EventReader
from pymongo.database import Database

from core.chat_events import message_received
from core.errors import TransientError
from core.ids import new_id
from core.settings import Settings
from core.states import Status
from core.timeutil import utcnow
from storage.conversations import ConversationRepository
from storage.messages import MessageRepository, reply_id
from storage.outbox import with_outbox
from storage.provider_reports import ProviderReports
from storage.sessions import SessionStore, language_key, session_key
from storage.turn_order import INTACT_KEY, TurnOrder
from storage.visitor_streams import decode_entry, stream_key
from tasks.audit import audit
from tasks.deliver import deliver
from tasks.generate import generate
from tasks.process import process


def accept(
    db: Database[Any], tenant: str, text: str, user: str = "ana", widget: str | None = None
) -> str:
    """Store an inbound message as the ingress would: from the API, or from a ``widget``."""
    message_id = new_id("msg")
    channel = "web" if widget else "api"
    conversation_id = ConversationRepository(db).resolve_open(
        tenant, channel, user, message_id, scope=widget
    )
    now = utcnow()
    doc: dict[str, Any] = {
        "_id": message_id,
        "tenant_id": tenant,
        "conversation_id": conversation_id,
        "channel": channel,
        "direction": "inbound",
        "user_id": user,
        "text": text,
        "metadata": {},
        "dedupe_key": f"msg:{message_id}",
        "status": "accepted",
        "journey": {"accepted": now},
        "created_at": now,
        "updated_at": now,
    }
    if widget:
        doc["reply_to"] = {"widget_id": widget}
    MessageRepository(db).insert_once(with_outbox(doc, [message_received(doc)]))
    return message_id


def test_process_normalises_opens_a_session_and_is_idempotent(
    db: Database[Any], redis_client: redis.Redis, settings: Settings, tenant: str
) -> None:
    message_id = accept(db, tenant, "  Cafe\u0301\u00a0 au   lait?\u200b ")
    process(tenant, message_id)
    stored = db["messages"].find_one({"_id": message_id})
    assert stored is not None
    assert stored["status"] == "processed"
    processing = stored["processing"]
    assert (processing["normalized_text"], processing["message_type"], processing["length"]) == (
        "Café au lait?",
        "text",
        13,
    )
    assert (processing["kind"], processing["engine_text"]) == ("text", "Café au lait?")
    assert [s["outcome"] for s in processing["stages"]] == ["ok"] * len(processing["stages"])
    key = session_key(tenant, stored["conversation_id"])
    assert 0 < int(redis_client.ttl(key)) <= settings.session_ttl_seconds
    processed_at = stored["journey"]["processed"]
    process(tenant, message_id)
    again = db["messages"].find_one({"_id": message_id})
    assert again is not None and again["journey"]["processed"] == processed_at


def test_generate_stores_one_reply_and_never_asks_the_engine_twice(
    engine: CountingBackend, db: Database[Any], tenant: str
) -> None:
    message_id = accept(db, tenant, "What are your opening hours?")
    process(tenant, message_id)
    generate(tenant, message_id)
    generate(tenant, message_id)
    assert engine.calls.count(message_id) == 1
    reply = db["messages"].find_one({"_id": reply_id(message_id)})
    assert reply is not None
    assert reply["direction"] == "outbound"
    assert reply["status"] == "generated"
    assert reply["text"] == "We are open Monday to Friday, 9:00 to 18:00."
    assert reply["parts"] == [{"type": "text", "text": reply["text"]}]
    assert reply["engine"]["intent"] == "opening_hours"
    inbound = db["messages"].find_one({"_id": message_id})
    assert inbound is not None and inbound["status"] == "generated"
    assert inbound["reply_id"] == reply["_id"]


def test_generate_sends_the_history_window_oldest_first(
    engine: CountingBackend, db: Database[Any], settings: Settings, tenant: str
) -> None:
    ids = []
    for n in range(settings.history_window + 3):
        ids.append(accept(db, tenant, f"message {n}"))
    last = ids[-1]
    process(tenant, last)
    from protos.engine_turn import build_request
    from tasks.runtime import clients

    c = clients()
    message = c.messages.get(tenant, last)
    history = c.messages.history(tenant, message["conversation_id"], last, settings.history_window)
    request = build_request(message, history, {})
    assert [h.message_id for h in request.history] == ids[-1 - settings.history_window : -1]


def test_generate_without_an_engine_is_a_transient_error(db: Database[Any], tenant: str) -> None:
    message_id = accept(db, tenant, "hello")
    process(tenant, message_id)
    with pytest.raises(TransientError):
        generate(tenant, message_id)
    stored = db["messages"].find_one({"_id": message_id})
    assert stored is not None and stored["status"] == "processed"
    assert db["messages"].find_one({"_id": reply_id(message_id)}) is None


def answer_each_turn_alone(db: Database[Any], tenant: str) -> None:
    """Bursts off for ``tenant`` (docs/bursts.md): a test of the order two turns are answered
    in needs each answered by its own engine call, not the second with the first."""
    db["tenants"].insert_one(
        {"_id": tenant, "name": tenant, "state": "active", "bursts": {"max_messages": 1}}
    )


def test_a_later_turn_waits_for_an_earlier_one_whose_order_entry_redis_lost(
    engine: CountingBackend, db: Database[Any], redis_client: redis.Redis, tenant: str
) -> None:
    """Redis restarted without its data just after the first turn was accepted: the first
    turn's order entry (and its task) went with it. The second turn must still wait for the
    first, not be answered before it (a ledger run saw exactly that overtaking)."""
    answer_each_turn_alone(db, tenant)
    order = TurnOrder(redis_client)
    order.rebuild([])  # a running platform's index: intact, nothing in flight
    first = accept(db, tenant, "first")
    stored = db["messages"].find_one({"_id": first})
    assert stored is not None
    conversation = stored["conversation_id"]
    order.open(tenant, conversation, first)

    redis_client.flushdb()  # Redis comes back empty

    second = accept(db, tenant, "second")
    order.open(tenant, conversation, second)
    process(tenant, second)
    generate(tenant, second)
    waiting = db["messages"].find_one({"_id": second})
    assert waiting is not None and waiting["status"] == "processed"
    assert engine.calls == []
    assert redis_client.exists(INTACT_KEY), "the index was not rebuilt"
    assert order.earlier(tenant, conversation, "generate", second) == (first, [])
    assert order.parked([(tenant, conversation, "generate", second)]) == [True]

    process(tenant, first)  # the reconciler re-drives the lost turn
    generate(tenant, first)  # ... which hands over to the second
    assert order.parked([(tenant, conversation, "generate", second)]) == [False]
    generate(tenant, second)
    assert engine.calls == [first, second]


def test_deliver_and_audit_complete_the_turn_once(
    engine: CountingBackend, db: Database[Any], settings: Settings, tenant: str
) -> None:
    message_id = accept(db, tenant, "hello")
    reader = EventReader(settings.kafka_bootstrap, ["chat.message.received", "chat.message.sent"])
    try:
        for stage in (process, generate, deliver, audit, deliver, audit):
            stage(tenant, message_id)
        events = reader.collect(
            lambda evs: (
                {e["type"] for e in evs if e["tenantid"] == tenant}
                >= {"chat.message.received", "chat.message.sent"}
            ),
            timeout=30,
        )
    finally:
        reader.close()
    inbound = db["messages"].find_one({"_id": message_id})
    reply = db["messages"].find_one({"_id": reply_id(message_id)})
    assert inbound is not None and reply is not None
    assert inbound["status"] == Status.COMPLETED
    assert list(inbound["journey"]) == [
        "accepted",
        "processed",
        "generated",
        "delivered",
        "completed",
    ]
    assert reply["status"] == Status.DELIVERED
    assert list(reply["journey"]) == ["generated", "sending", "sent", "delivered"]
    assert db["audit"].count_documents({"tenant_id": tenant, "inbound_id": message_id}) == 1
    mine = [e for e in events if e["tenantid"] == tenant]
    assert sorted(e["id"] for e in mine) == sorted(
        [f"{message_id}:received", f"{reply['_id']}:sent"]
    )


def test_a_web_reply_is_published_to_the_visitors_stream_once_whole_and_left_sent(
    engine: CountingBackend, db: Database[Any], redis_client: redis.Redis
) -> None:
    tenant, visitor = "demo", new_id("v")  # the demo tenant's greeting has two parts
    message_id = accept(db, tenant, "hello", user=visitor, widget="wgt_shop")
    for stage in (process, generate, deliver, deliver):
        stage(tenant, message_id)
    rid = reply_id(message_id)
    entries = redis_client.xrange(stream_key(tenant, "wgt_shop", visitor))
    events = [decode_entry(entry_id, fields) for entry_id, fields in entries]
    # The generate stage streamed its status, typing and deltas first; the reply itself is one
    # message event, the last one.
    messages = [e for e in events if e["type"] == "message"]
    assert [e["message"]["id"] for e in messages] == [rid]
    assert events[-1] is messages[0]
    reply = db["messages"].find_one({"_id": rid})
    assert reply is not None
    published = messages[0]["message"]
    assert published["direction"] == "outbound" and published["parts"] == reply["parts"]
    assert [part["type"] for part in published["parts"]] == ["text", "card"]
    assert published["conversation_id"] == reply["conversation_id"]
    # Published is not delivered: the browser's ``delivered`` frame moves it on.
    assert reply["status"] == Status.SENT and reply["provider_message_ids"] == [rid]


def test_a_browser_tick_that_beats_the_stage_moves_the_web_reply_once_it_is_sent(
    engine: CountingBackend, db: Database[Any], redis_client: redis.Redis, tenant: str
) -> None:
    message_id = accept(db, tenant, "hello", user="v_quick", widget="wgt_shop")
    for stage in (process, generate):
        stage(tenant, message_id)
    rid = reply_id(message_id)
    # As ingress/ws.py notes a tick for a web reply (no config: the empty id).
    ProviderReports(redis_client).note(tenant, "", rid, Status.READ)
    deliver(tenant, message_id)
    reply = db["messages"].find_one({"_id": rid})
    assert reply is not None and reply["status"] == Status.READ


def test_status_never_moves_backwards(db: Database[Any], tenant: str) -> None:
    from storage.messages import MessageRepository

    repo = MessageRepository(db)
    message_id = accept(db, tenant, "hi")
    assert repo.advance(tenant, message_id, Status.GENERATED)
    assert not repo.advance(tenant, message_id, Status.PROCESSED)
    assert not repo.advance(tenant, message_id, Status.GENERATED)
    assert repo.advance(tenant, message_id, Status.READ)
    assert not repo.advance(tenant, message_id, Status.DELIVERED)
    assert not repo.advance(tenant + "x", message_id, Status.COMPLETED)
    stored = db["messages"].find_one({"_id": message_id})
    assert stored is not None and stored["status"] == "read"


def test_a_turn_whose_insert_timed_out_but_was_applied_keeps_its_place_in_order(
    engine: CountingBackend,
    db: Database[Any],
    settings: Settings,
    redis_client: redis.Redis,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server applied the insert but its answer timed out: the ingress answered an error,
    nothing was enqueued, and the provider's retry is a duplicate. A later turn of the same
    conversation must still wait for it (the reconciler re-drives it), not overtake it."""
    from pymongo.errors import NetworkTimeout

    answer_each_turn_alone(db, tenant)

    from ingress.accept import _inbound_document, _store_and_enqueue
    from ingress.state import IngressState

    TurnOrder(redis_client).rebuild([])
    conversation = ConversationRepository(db).resolve_open(tenant, "api", "ana", new_id("msg"))
    state = IngressState(settings)
    try:
        applied = state.messages.insert_once

        def applied_then_timed_out(doc: dict[str, Any]) -> Any:
            applied(doc)
            raise NetworkTimeout("the insert's answer never came")

        first = _inbound_document(
            new_id("msg"), tenant, conversation, "api", "ana", "first", "msg:first"
        )
        monkeypatch.setattr(state.messages, "insert_once", applied_then_timed_out)
        with pytest.raises(NetworkTimeout):
            _store_and_enqueue(state, first)
        monkeypatch.undo()
        second = _inbound_document(
            new_id("msg"), tenant, conversation, "api", "ana", "second", "msg:second"
        )
        _store_and_enqueue(state, second)
    finally:
        state.close()
    process(tenant, second["_id"])
    generate(tenant, second["_id"])  # parks behind the first
    assert engine.calls == []
    process(tenant, first["_id"])  # the reconciler re-drives the first
    generate(tenant, first["_id"])
    generate(tenant, second["_id"])
    assert engine.calls == [first["_id"], second["_id"]]


def test_a_short_message_takes_the_language_its_conversation_was_last_told_in(
    engine: CountingBackend, db: Database[Any], redis_client: redis.Redis, tenant: str
) -> None:
    first = accept(db, tenant, "Bonjour, je voudrais annuler ma commande de la semaine dernière")
    process(tenant, first)
    second = accept(db, tenant, "ok")  # too short to tell
    process(tenant, second)

    stored = {doc["_id"]: doc for doc in db["messages"].find({"_id": {"$in": [first, second]}})}
    assert stored[first]["processing"]["language"]["code"] == "fr"
    assert stored[second]["processing"]["language"] == {
        "code": "fr",
        "confidence": 0.0,
        "source": "conversation",
    }
    conversation_id = stored[first]["conversation_id"]
    assert redis_client.get(language_key(tenant, conversation_id)) == b"fr"
    SessionStore(redis_client, 600).clear(tenant, conversation_id)  # ends with the session
    assert not redis_client.exists(language_key(tenant, conversation_id))


def test_the_conversations_activity_is_written_with_its_history_by_generate(
    engine: CountingBackend, db: Database[Any], tenant: str
) -> None:
    message_id = accept(db, tenant, "What are your opening hours?")
    conversation_id = db["messages"].find_one({"_id": message_id})["conversation_id"]  # type: ignore[index]
    before = db["conversations"].find_one({"_id": conversation_id})
    process(tenant, message_id)
    assert db["conversations"].find_one({"_id": conversation_id}) == before  # not written

    generate(tenant, message_id)

    after = db["conversations"].find_one({"_id": conversation_id})
    assert after is not None and after["last_message_id"] == reply_id(message_id)
    assert [entry["_id"] for entry in after["recent"]] == [message_id, reply_id(message_id)]
    deliver(tenant, message_id)
    audit(tenant, message_id)
    assert db["conversations"].find_one({"_id": conversation_id}) == after  # nothing more
