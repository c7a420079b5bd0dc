"""Issue 14's webhook acceptance on the real platform: a message in through ``POST /v1/messages``,
its events out of the chain onto Kafka, read back by ``parley consume webhooks``, fanned out to
the tenant's subscription and sent signed by a real ``webhooks`` worker to a local endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from processes import running_platform
from testenv import ENGINE_PORT, free_port

from core.settings import Settings
from tests.credentials import tenant_headers
from tests.fakes.webhook_endpoint import Received, WebhookEndpoint

pytestmark = pytest.mark.e2e

MESSAGE_TOPICS = ("chat.message.received", "chat.message.sent")
GROUP_PREFIX = f"parley-test-{uuid.uuid4().hex[:8]}."
ENV = {
    "PARLEY_WEBHOOKS_ALLOW_PRIVATE": "1",
    "PARLEY_WEBHOOKS_RETRY_SCHEDULE": "0,0.2,0.2,0.2",
    "PARLEY_CONSUMER_GROUP_PREFIX": GROUP_PREFIX,
    "PARLEY_CONSUMER_EVENTS": json.dumps({"webhooks": list(MESSAGE_TOPICS)}),
}


def _start_at_the_end(bootstrap: str, group: str) -> None:
    """Commit the group's offsets at the topics' ends, so the consumer reads only this test's
    events, not every earlier run's (it starts from the earliest offset it has none for)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        offsets = []
        for topic in MESSAGE_TOPICS:
            found = consumer.list_topics(topic, timeout=20).topics[topic]
            for partition in found.partitions:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=15
                )
                offsets.append(TopicPartition(topic, partition, high))
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[WebhookEndpoint]:
    with WebhookEndpoint() as server:
        yield server


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, db: Any, broker: Any
) -> Iterator[str]:
    logs: Path = tmp_path_factory.mktemp("webhooks-e2e-logs")
    _start_at_the_end(settings.kafka_bootstrap, f"{GROUP_PREFIX}webhooks")
    with running_platform(logs, ENGINE_PORT, free_port(), ENV) as (base, group):
        group.start("worker-webhooks", "worker", "webhooks", "--concurrency", "2", env=ENV)
        group.start("consume-webhooks", "consume", "webhooks", env=ENV)
        yield base


def _signed_by(secret: str, request: Received) -> bool:
    """The Standard Webhooks check as the specification writes it."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode()
    expected = (
        "v1,"
        + base64.b64encode(hmac.new(key, signed + request.body, hashlib.sha256).digest()).decode()
    )
    return any(
        hmac.compare_digest(expected, s) for s in request.headers["webhook-signature"].split()
    )


def test_a_message_reaches_a_subscribed_endpoint_signed_and_retried_until_delivered(
    platform: str, settings: Settings, tenant: str, endpoint: WebhookEndpoint
) -> None:
    headers = tenant_headers(settings, tenant)
    # One subscription (and endpoint path) an event type: the scripted failures must reach the
    # received event's delivery, and the sent event's delivery, a moment behind it, must not take
    # any of them.
    paths = {topic: f"/{tenant}/{topic}" for topic in MESSAGE_TOPICS}
    subscriptions = {}
    for topic, path in paths.items():
        subscribed = httpx.post(
            f"{platform}/v1/webhooks/subscriptions",
            headers=headers,
            json={"url": endpoint.url(path), "events": [topic]},
        )
        assert subscribed.status_code == 201, subscribed.text
        subscriptions[topic] = subscribed.json()
    endpoint.answer(paths["chat.message.received"], 500, 500, 500)  # fails three times

    posted = httpx.post(
        f"{platform}/v1/messages", headers=headers, json={"user_id": "dee", "text": "hello"}
    )
    assert posted.status_code == 202, posted.text
    message_id = posted.json()["message_id"]

    # received: 500, 500, 500, 200; sent: 200.
    arrived = {
        topic: endpoint.wait_for(paths[topic], count, timeout=90)
        for topic, count in (("chat.message.received", 4), ("chat.message.sent", 1))
    }
    for topic, requests in arrived.items():
        assert all(_signed_by(subscriptions[topic]["secret"], r) for r in requests)
        assert {json.loads(r.body)["type"] for r in requests} == {topic}
    received = [r.headers["webhook-id"] for r in arrived["chat.message.received"]]
    assert len(received) == 4 and len(set(received)) == 1  # one webhook-id, redelivered
    bodies = [json.loads(r.body) for requests in arrived.values() for r in requests]
    assert all(b["data"]["conversation_id"] == posted.json()["conversation_id"] for b in bodies)
    received_ids = {b["data"]["message_id"] for b in bodies if b["type"] == "chat.message.received"}
    assert received_ids == {message_id}

    subscription = subscriptions["chat.message.received"]
    log_url = f"{platform}/v1/webhooks/subscriptions/{subscription['id']}/deliveries"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log = httpx.get(log_url, headers=headers).json()["data"]
        if len(log) == 1 and log[0]["status"] == "delivered":
            break
        time.sleep(0.2)
    assert [d["id"] for d in log] == received[:1], log
    assert log[0]["status"] == "delivered", log
    assert [a["response_status"] for a in log[0]["attempts"]] == [500, 500, 500, 200]
