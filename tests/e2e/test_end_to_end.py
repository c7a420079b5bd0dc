"""One message end to end: real ingress, real celery workers per queue, real engine, real Kafka."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka_reader import EventReader
from processes import CHAIN_QUEUES, running_platform
from testenv import ENGINE_PORT, free_port

from core.settings import Settings
from core.tokens import mint_token
from tasks.app import app as celery_app

pytestmark = pytest.mark.e2e

TOPICS = [
    "chat.message.received",
    "chat.message.sent",
    "chat.conversation.started",
    "chat.conversation.updated",
]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, db: Any, broker: Any) -> Iterator[str]:
    logs: Path = tmp_path_factory.mktemp("e2e-logs")
    with running_platform(logs, ENGINE_PORT, free_port()) as (base, _):
        yield base


def _auth(settings: Settings, tenant: str) -> dict[str, str]:
    token = mint_token(settings.require_jwt_secret(), tenant, "e2e", 600)
    return {"Authorization": f"Bearer {token}"}


def _wait_completed(base: str, headers: dict[str, str], message_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = httpx.get(f"{base}/v1/messages/{message_id}", headers=headers).json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"message {message_id} did not complete: {body}")


def test_one_workers_per_queue_answer_the_broker(platform: str) -> None:
    replies = celery_app.control.ping(timeout=2.0)
    hosts = sorted(name.split("@")[0] for reply in replies for name in reply)
    assert hosts == sorted(CHAIN_QUEUES)


def test_a_message_is_answered_journeyed_and_published(
    platform: str, settings: Settings, tenant: str
) -> None:
    headers = _auth(settings, tenant)
    reader = EventReader(settings.kafka_bootstrap, TOPICS)
    try:
        accepted = httpx.post(
            f"{platform}/v1/messages", headers=headers, json={"user_id": "alice", "text": "Hello!"}
        )
        assert accepted.status_code == 202, accepted.text
        ids = accepted.json()
        assert set(ids) == {"message_id", "conversation_id", "status"}
        assert ids["status"] == "accepted"

        message = _wait_completed(platform, headers, ids["message_id"])
        assert message["status"] == "completed"
        assert list(message["journey"]) == [
            "accepted",
            "processed",
            "generated",
            "delivered",
            "completed",
        ]
        stamps = list(message["journey"].values())
        assert stamps == sorted(stamps)

        listing = httpx.get(
            f"{platform}/v1/conversations/{ids['conversation_id']}/messages", headers=headers
        ).json()
        inbound, reply = listing["data"]
        assert inbound["message_id"] == ids["message_id"]
        assert inbound["text"] == "Hello!"
        assert reply["direction"] == "outbound"
        assert reply["in_reply_to"] == ids["message_id"]
        assert reply["status"] == "delivered"
        assert reply["text"].strip()
        assert listing["next_cursor"] is None

        conversation = ids["conversation_id"]

        def complete(events: list[dict[str, Any]]) -> bool:
            types = {e["type"] for e in events if e["data"].get("conversation_id") == conversation}
            return types >= set(TOPICS)

        events = [
            e
            for e in reader.collect(complete, timeout=30)
            if e["data"].get("conversation_id") == conversation
        ]
    finally:
        reader.close()
    by_type = {e["type"]: e for e in events}
    assert set(by_type) == set(TOPICS)
    assert len(events) == len(TOPICS)  # each fact published once
    for event in events:
        assert event["specversion"] == "1.0"
        assert event["tenantid"] == tenant
        assert event["source"] == "/parley/pipeline"
        assert event["datacontenttype"] == "application/json"
        assert event["id"] and event["time"].endswith("Z")
    assert by_type["chat.message.received"]["data"]["message_id"] == ids["message_id"]
    assert by_type["chat.message.sent"]["data"]["message_id"] == reply["message_id"]
    keys = {
        key
        for topic, key, event, _ in reader.seen
        if event["data"].get("conversation_id") == conversation
    }
    assert keys == {conversation.encode()}


def test_a_second_message_continues_the_conversation(
    platform: str, settings: Settings, tenant: str
) -> None:
    headers = _auth(settings, tenant)
    first = httpx.post(
        f"{platform}/v1/messages", headers=headers, json={"user_id": "bob", "text": "hi"}
    ).json()
    _wait_completed(platform, headers, first["message_id"])
    second = httpx.post(
        f"{platform}/v1/messages",
        headers=headers,
        json={"user_id": "bob", "text": "what are your opening hours?"},
    ).json()
    assert second["conversation_id"] == first["conversation_id"]
    _wait_completed(platform, headers, second["message_id"])
    listing = httpx.get(
        f"{platform}/v1/conversations/{first['conversation_id']}/messages",
        headers=headers,
        params={"limit": 3},
    ).json()
    assert [m["direction"] for m in listing["data"]] == ["inbound", "outbound", "inbound"]
    rest = httpx.get(
        f"{platform}/v1/conversations/{first['conversation_id']}/messages",
        headers=headers,
        params={"limit": 3, "cursor": listing["next_cursor"]},
    ).json()
    assert [m["direction"] for m in rest["data"]] == ["outbound"]
    assert rest["data"][0]["in_reply_to"] == second["message_id"]
    assert rest["next_cursor"] is None
