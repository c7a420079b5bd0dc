"""Outbound webhooks end to end: the API subscribes a real local endpoint, ``fan_out`` hands
events to a real ``webhooks`` worker, and the endpoint checks what arrives."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.cloudevents import CloudEvent
from core.settings import Settings
from core.webhook_signatures import verify
from ingress.app import create_app
from storage.wiring import Storage
from tasks.app import app as celery_app
from tasks.webhooks import fan_out
from tests.credentials import tenant_headers
from tests.fakes.webhook_endpoint import Received, WebhookEndpoint
from tests.processes import ProcessGroup, process_group

WORKER_ENV = {
    "PARLEY_WEBHOOKS_ALLOW_PRIVATE": "1",
    "PARLEY_WEBHOOKS_RETRY_SCHEDULE": "0,0.2,0.2,0.2",
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[WebhookEndpoint]:
    with WebhookEndpoint() as server:
        yield server


@pytest.fixture(scope="module")
def worker(
    tmp_path_factory: pytest.TempPathFactory, db: Database[Any], broker: redis.Redis
) -> Iterator[ProcessGroup]:
    logs: Path = tmp_path_factory.mktemp("webhook-worker")
    with process_group(logs) as group:
        group.start("worker-webhooks", "worker", "webhooks", "--concurrency", "4", env=WORKER_ENV)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            group.assert_running()
            if celery_app.control.ping(timeout=1.0):
                break
        else:
            raise AssertionError("the webhooks worker did not answer a ping")
        yield group


@pytest.fixture(scope="module")
def api(settings: Settings, db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    development = settings.model_copy(update={"webhooks_allow_private": True})
    with TestClient(create_app(development), raise_server_exceptions=False) as client:
        yield client


def subscribe(
    api: TestClient, settings: Settings, tenant: str, url: str, events: list[str]
) -> dict[str, Any]:
    answer = api.post(
        "/v1/webhooks/subscriptions",
        headers=tenant_headers(settings, tenant),
        json={"url": url, "events": events},
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def event(tenant: str, conversation: str, kind: str = "chat.message.received") -> dict[str, Any]:
    message = "msg_" + secrets.token_hex(6)
    return CloudEvent(
        id=f"{message}:received",
        type=kind,
        source="/parley/test",
        subject=message,
        time=datetime.now(UTC),
        tenant_id=tenant,
        partition_key=conversation,
        data={"message_id": message, "text": "hello"},
    ).to_dict()


def deliveries(api: TestClient, settings: Settings, tenant: str, sub: str) -> list[Any]:
    answer = api.get(
        f"/v1/webhooks/subscriptions/{sub}/deliveries", headers=tenant_headers(settings, tenant)
    )
    assert answer.status_code == 200, answer.text
    data: list[Any] = answer.json()["data"]
    return data


def settled(api: TestClient, settings: Settings, tenant: str, sub: str, count: int) -> list[Any]:
    """The log once ``count`` deliveries are delivered or dead (the worker is asynchronous)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log = deliveries(api, settings, tenant, sub)
        if len(log) >= count and all(d["status"] in ("delivered", "dead") for d in log):
            return log
        time.sleep(0.1)
    raise AssertionError(f"not settled: {deliveries(api, settings, tenant, sub)}")


def signed_by(secret: str, request: Received) -> bool:
    """The Standard Webhooks check, written out as the specification gives it."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode()
    digest = hmac.new(key, signed + request.body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    return any(
        hmac.compare_digest(expected, listed)
        for listed in request.headers["webhook-signature"].split(" ")
    )


def test_an_endpoint_failing_three_times_gets_the_same_webhook_id_until_it_is_delivered(
    api: TestClient,
    settings: Settings,
    tenant: str,
    worker: ProcessGroup,
    endpoint: WebhookEndpoint,
) -> None:
    sub = subscribe(api, settings, tenant, endpoint.url("/flaky"), ["chat.message.*"])
    endpoint.answer("/flaky", 500, 500, 500)
    sent = event(tenant, "conv_1")
    assert fan_out(sent) == 1
    arrived = endpoint.wait_for("/flaky", 4)
    ids = {r.headers["webhook-id"] for r in arrived}
    assert len(ids) == 1
    for request in arrived:
        assert signed_by(sub["secret"], request)
        verify(sub["secret"], request.headers, request.body)
        assert request.body.decode() == api_json(sent)
    (delivery,) = settled(api, settings, tenant, sub["id"], 1)
    assert delivery["id"] == ids.pop()
    assert delivery["status"] == "delivered"
    assert delivery["event_id"] == sent["id"]
    assert [a["response_status"] for a in delivery["attempts"]] == [500, 500, 500, 200]
    assert delivery["attempts"][0]["error"] == "the endpoint answered HTTP 500"
    assert sub["secret"] not in worker.all_logs()


def api_json(sent: dict[str, Any]) -> str:
    import json

    return json.dumps(sent, separators=(",", ":"), ensure_ascii=False)


def test_an_event_fanned_out_twice_is_delivered_once(
    api: TestClient,
    settings: Settings,
    tenant: str,
    worker: ProcessGroup,
    endpoint: WebhookEndpoint,
) -> None:
    sub = subscribe(api, settings, tenant, endpoint.url("/twice"), ["chat.message.received"])
    other = subscribe(api, settings, tenant, endpoint.url("/other"), ["chat.conversation.*"])
    sent = event(tenant, "conv_2")
    assert fan_out(sent) == 1
    consumer = Storage(settings, redis_timeout_seconds=5)  # a consumer's own clients
    try:
        assert fan_out(sent, consumer) == 0
    finally:
        consumer.close()
    (delivery,) = settled(api, settings, tenant, sub["id"], 1)
    assert delivery["status"] == "delivered" and len(delivery["attempts"]) == 1
    assert len(endpoint.received("/twice")) == 1
    assert deliveries(api, settings, tenant, other["id"]) == []


def test_a_rotated_secret_signs_beside_the_previous_one(
    api: TestClient,
    settings: Settings,
    tenant: str,
    worker: ProcessGroup,
    endpoint: WebhookEndpoint,
) -> None:
    sub = subscribe(api, settings, tenant, endpoint.url("/rotated"), ["chat.message.*"])
    rotated = api.post(
        f"/v1/webhooks/subscriptions/{sub['id']}/rotate", headers=tenant_headers(settings, tenant)
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != sub["secret"]
    assert "previous_secret_expires_at" in rotated.json()
    fan_out(event(tenant, "conv_3"))
    (request,) = endpoint.wait_for("/rotated", 1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert signed_by(sub["secret"], request) and signed_by(new_secret, request)


def test_deliveries_of_one_conversation_wait_behind_a_failing_first_one(
    api: TestClient,
    settings: Settings,
    tenant: str,
    worker: ProcessGroup,
    endpoint: WebhookEndpoint,
) -> None:
    subscribe(api, settings, tenant, endpoint.url("/ordered"), ["chat.message.*"])
    endpoint.answer("/ordered", 500, 500)
    events = [event(tenant, "conv_4") for _ in range(3)]
    for each in events:
        assert fan_out(each) == 1
    arrived = endpoint.wait_for("/ordered", 5)
    order = [r.headers["webhook-id"] for r in arrived]
    first, second, third = dict.fromkeys(order)  # each id once, in order of first arrival
    assert order == [first, first, first, second, third]
    assert [r.body.decode() for r in arrived[2:]] == [api_json(e) for e in events]


def test_an_endpoint_answering_410_gone_is_disabled(
    api: TestClient,
    settings: Settings,
    tenant: str,
    worker: ProcessGroup,
    endpoint: WebhookEndpoint,
) -> None:
    sub = subscribe(api, settings, tenant, endpoint.url("/gone"), ["chat.message.*"])
    endpoint.answer("/gone", 410)
    fan_out(event(tenant, "conv_5"))
    (delivery,) = settled(api, settings, tenant, sub["id"], 1)
    assert delivery["status"] == "dead"
    shown = api.get(
        f"/v1/webhooks/subscriptions/{sub['id']}", headers=tenant_headers(settings, tenant)
    ).json()
    assert shown["status"] == "disabled"
    assert "410" in shown["disabled_reason"] and shown["disabled_at"]
    assert fan_out(event(tenant, "conv_5")) == 0  # a disabled endpoint gets nothing more


def test_a_replay_sends_the_same_webhook_id_again(
    api: TestClient,
    settings: Settings,
    tenant: str,
    worker: ProcessGroup,
    endpoint: WebhookEndpoint,
) -> None:
    sub = subscribe(api, settings, tenant, endpoint.url("/replayed"), ["chat.message.*"])
    fan_out(event(tenant, "conv_6"))
    (delivery,) = settled(api, settings, tenant, sub["id"], 1)
    replayed = api.post(
        f"/v1/webhooks/subscriptions/{sub['id']}/deliveries/{delivery['id']}/replay",
        headers=tenant_headers(settings, tenant),
    )
    assert replayed.status_code == 202, replayed.text
    first, again = endpoint.wait_for("/replayed", 2)
    assert first.headers["webhook-id"] == again.headers["webhook-id"] == delivery["id"]
    assert first.body == again.body
    (after,) = settled(api, settings, tenant, sub["id"], 1)
    assert after["replays"] == 1 and len(after["attempts"]) == 2
