"""The conversation service over HTTP: list, filter, paginate, show and close conversations;
a close is idempotent, answers another tenant 404, and the user's next message opens a new
conversation, also when another process closed it while this one remembers it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kafka_reader import EventReader
from pymongo.database import Database
from starlette.testclient import TestClient

from core.settings import Settings
from ingress.app import create_app
from storage.conversations import ConversationRepository
from storage.event_sequence import EventSequencer
from storage.kafka_producer import EventPublisher
from storage.outbox import PENDING_COLLECTION, OutboxRelay
from storage.sessions import SessionStore, session_key
from tests.credentials import admin_headers, create_tenant, tenant_headers

ENDED = "chat.conversation.ended"


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    # The default settings: the ingress remembers resolved conversations for 30 s.
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def _send(client: TestClient, headers: dict[str, str], user: str, text: str = "hi") -> str:
    response = client.post("/v1/messages", headers=headers, json={"user_id": user, "text": text})
    assert response.status_code == 202, response.text
    conversation_id: str = response.json()["conversation_id"]
    return conversation_id


def test_list_filters_and_pages_in_id_order(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    headers = tenant_headers(settings, tenant)
    ids = sorted(_send(client, headers, f"user-{n}") for n in range(5))
    closed = client.post(f"/v1/conversations/{ids[1]}/close", headers=headers)
    assert closed.status_code == 200

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/conversations", headers=headers, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["data"]) <= 2
        seen += [each["id"] for each in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    def listed(**params: str) -> list[str]:
        response = client.get("/v1/conversations", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [each["id"] for each in response.json()["data"]]

    assert listed(status="closed") == [ids[1]]
    assert listed(status="open") == [i for i in ids if i != ids[1]]
    assert listed(channel="api") == ids
    assert listed(channel="slack") == []
    one = client.get(f"/v1/conversations/{ids[3]}", headers=headers).json()
    assert listed(user_id=one["user_id"]) == [ids[3]]
    assert listed(user_id=one["user_id"], status="closed") == []


@pytest.mark.parametrize(
    ("params", "slug"),
    [
        ({"status": "ended"}, "invalid-filter"),
        ({"cursor": "bm90LW91cnM"}, "invalid-cursor"),
        ({"limit": "0"}, "invalid-limit"),
    ],
)
def test_bad_list_input_is_a_problem(
    client: TestClient, settings: Settings, tenant: str, params: dict[str, str], slug: str
) -> None:
    response = client.get(
        "/v1/conversations", headers=tenant_headers(settings, tenant), params=params
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/" + slug)


def test_get_shows_one_conversation_and_another_tenants_is_not_found(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    headers = tenant_headers(settings, tenant)
    conversation_id = _send(client, headers, "ana")
    shown = client.get(f"/v1/conversations/{conversation_id}", headers=headers)
    assert shown.status_code == 200
    body = shown.json()
    assert (body["id"], body["channel"], body["user_id"], body["state"]) == (
        conversation_id,
        "api",
        "ana",
        "open",
    )
    assert "closed_at" not in body and "close_reason" not in body
    other = tenant_headers(settings, tenant + "x")
    for method, path in (
        ("GET", f"/v1/conversations/{conversation_id}"),
        ("POST", f"/v1/conversations/{conversation_id}/close"),
        ("GET", "/v1/conversations/conv_nope"),
    ):
        response = client.request(method, path, headers=other)
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"/v1/conversations/{conversation_id}", headers=headers).json() == body


def test_close_is_idempotent_ends_the_session_and_stages_one_event(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    redis_client: redis.Redis,
    tenant: str,
) -> None:
    headers = tenant_headers(settings, tenant)
    conversation_id = _send(client, headers, "ana")
    SessionStore(redis_client, 600).refresh(tenant, conversation_id, "ana", "api")
    first = client.post(f"/v1/conversations/{conversation_id}/close", headers=headers)
    assert first.status_code == 200
    closed = first.json()
    assert (closed["state"], closed["close_reason"]) == ("closed", "closed")
    assert closed["closed_at"]
    assert redis_client.exists(session_key(tenant, conversation_id)) == 0

    again = client.post(f"/v1/conversations/{conversation_id}/close", headers=headers)
    assert again.status_code == 200
    assert again.json() == closed
    stored = db["conversations"].find_one({"_id": conversation_id})
    assert stored is not None
    assert [e["topic"] for e in stored["outbox"]].count(ENDED) == 1
    assert db[PENDING_COLLECTION].count_documents({"_id": f"{conversation_id}:ended"}) == 1


def test_the_next_message_after_a_close_opens_a_new_conversation(
    client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    headers = tenant_headers(settings, tenant)
    first = _send(client, headers, "ana")
    assert _send(client, headers, "ana") == first  # remembered by this ingress
    assert client.post(f"/v1/conversations/{first}/close", headers=headers).status_code == 200
    second = _send(client, headers, "ana")
    assert second != first
    assert _send(client, headers, "ana") == second
    assert db["messages"].count_documents({"tenant_id": tenant, "conversation_id": first}) == 2
    assert db["messages"].count_documents({"tenant_id": tenant, "conversation_id": second}) == 2
    # Naming the closed conversation is refused; the open one takes messages.
    named = client.post(
        "/v1/messages",
        headers=headers,
        json={"user_id": "ana", "text": "x", "conversation_id": first},
    )
    assert named.status_code == 409
    states = {
        each["id"]: each["state"]
        for each in client.get("/v1/conversations", headers=headers).json()["data"]
    }
    assert states == {first: "closed", second: "open"}


def test_a_close_by_another_process_is_seen_by_this_ones_cache(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    redis_client: redis.Redis,
    tenant: str,
) -> None:
    headers = tenant_headers(settings, tenant)
    first = _send(client, headers, "bea")
    # Another process (a worker's idle job, another ingress) closes it.
    elsewhere = ConversationRepository(db, 0, redis_client)
    _, closed = elsewhere.close(tenant, first, "idle")
    assert closed
    second = _send(client, headers, "bea")
    assert second != first
    # Activity recorded late for the closed one (a turn still in flight) leaves it closed.
    elsewhere.touch(
        tenant, first, "msg_late", db["conversations"].find_one({"_id": first})["closed_at"]
    )
    doc = db["conversations"].find_one({"_id": first})
    assert doc is not None and doc["state"] == "closed" and doc.get("last_message_id") != "msg_late"


def test_a_closed_conversation_whose_closer_died_before_the_slot_moved_is_passed(
    db: Database[Any], redis_client: redis.Redis, tenant: str
) -> None:
    repo = ConversationRepository(db, 0, redis_client)
    first = repo.resolve_open(tenant, "api", "cy", "m1")
    repo.close(tenant, first, "closed")
    db["conversation_slots"].delete_many({"tenant_id": tenant})  # as if never moved on
    second = repo.resolve_open(tenant, "api", "cy", "m2")
    assert second != first
    assert repo.resolve_open(tenant, "api", "cy", "m3") == second
    assert db["conversations"].count_documents({"tenant_id": tenant, "state": "open"}) == 1


def test_a_close_undone_by_a_racing_write_leaves_the_user_in_that_conversation(
    db: Database[Any], redis_client: redis.Redis, tenant: str
) -> None:
    repo = ConversationRepository(db, 0, redis_client)
    first = repo.resolve_open(tenant, "api", "eve", "m1")
    before = db["conversations"].find_one({"_id": first})
    assert before is not None
    repo.close(tenant, first, "closed")
    # What FerretDB's read-then-replace update does when a touch races the close: the document
    # is written back as it was read, open and holding its open key, while the slot moved on.
    db["conversations"].replace_one({"_id": first}, before)
    assert repo.resolve_open(tenant, "api", "eve", "m2") == first
    assert db["conversations"].count_documents({"tenant_id": tenant, "user_id": "eve"}) == 1


def test_the_ended_event_reaches_kafka_once(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    redis_client: redis.Redis,
    tenant: str,
) -> None:
    headers = tenant_headers(settings, tenant)
    conversation_id = _send(client, headers, "dan")
    reader = EventReader(settings.kafka_bootstrap, [ENDED])
    publisher = EventPublisher(settings.kafka_bootstrap, client_id="parley-test-ended")
    try:
        for _ in range(2):
            response = client.post(f"/v1/conversations/{conversation_id}/close", headers=headers)
            assert response.status_code == 200
        relay = OutboxRelay(db, publisher, EventSequencer(redis_client))
        relay.relay(older_than_seconds=0, limit=1000, timeout=20)
        relay.relay(older_than_seconds=0, limit=1000, timeout=20)  # nothing left of ours
        reader.collect(lambda events: any(e["subject"] == conversation_id for e in events), 30)
        reader.collect(lambda _: False, 3)  # a late duplicate would show up here
        ours = [e for e in reader.events() if e["subject"] == conversation_id]
    finally:
        reader.close()
        publisher.close()
    assert len(ours) == 1
    assert ours[0]["data"] == {
        "conversation_id": conversation_id,
        "channel": "api",
        "user_id": "dan",
        "reason": "closed",
        # Second out: the conversation's started event went first; the message's received event
        # is left to its turn's audit stage (no worker runs here), and will be third.
        "sequence": 2,
    }


def test_a_tenants_idle_timeout_is_a_setting_of_its_own(
    client: TestClient, settings: Settings, db: Database[Any]
) -> None:
    tenant = create_tenant(client, settings, conversation_idle_minutes=30)
    path = f"/v1/admin/tenants/{tenant}"
    assert (
        client.get(path, headers=admin_headers(settings)).json()["conversation_idle_minutes"] == 30
    )
    refused = client.patch(
        path, headers=admin_headers(settings), json={"conversation_idle_minutes": 0}
    )
    assert refused.status_code == 422
    reset = client.patch(
        path, headers=admin_headers(settings), json={"conversation_idle_minutes": None}
    )
    assert reset.status_code == 200 and "conversation_idle_minutes" not in reset.json()
    stored = db["tenants"].find_one({"_id": tenant})
    assert stored is not None and "conversation_idle_minutes" not in stored
