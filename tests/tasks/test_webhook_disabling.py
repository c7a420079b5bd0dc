"""An endpoint that keeps failing is disabled, and an overdue delivery is queued again; one
attempt at a time, in this process, against real MongoDB and Redis and a local endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from pymongo.database import Database

from core.errors import PermanentError
from core.settings import Settings
from core.timeutil import utcnow
from storage.telemetry import QUEUE
from storage.webhook_deliveries import DeliveryDocument
from tasks import webhooks
from tasks.errors import MalformedEvent
from tasks.runtime import WorkerClients
from tests.fakes.webhook_endpoint import WebhookEndpoint


@pytest.fixture
def endpoint() -> Iterator[WebhookEndpoint]:
    with WebhookEndpoint() as server:
        yield server


@pytest.fixture
def impatient(
    settings: Settings, db: Database[Any], broker: redis.Redis, redis_client: redis.Redis
) -> Iterator[WorkerClients]:
    """A worker's clients that give up on an endpoint after its first failure, or nearly."""
    changed = {"webhooks_allow_private": True, "webhooks_disable_after_seconds": 0.001}
    made = WorkerClients(settings.model_copy(update=changed))
    yield made
    made.close()


def _status(c: WorkerClients, webhook_id: str) -> str:
    doc = c.webhook_deliveries.find(webhook_id)
    assert doc is not None
    return str(doc["status"])


def _delivery(c: WorkerClients, tenant: str, subscription_id: str, n: int) -> DeliveryDocument:
    doc = c.webhook_deliveries.create(
        tenant_id=tenant,
        subscription_id=subscription_id,
        event_id=f"evt_{n}",
        event_type="chat.message.sent",
        conversation_id=f"conv_{n}",
        payload=f'{{"n":{n}}}',
    )
    assert doc is not None
    return doc


def test_an_endpoint_failing_for_longer_than_allowed_is_disabled_and_the_hook_runs(
    impatient: WorkerClients,
    tenant: str,
    endpoint: WebhookEndpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    disabled: list[tuple[str, str]] = []
    monkeypatch.setattr(
        webhooks, "on_endpoint_disabled", lambda sub, reason: disabled.append((sub["_id"], reason))
    )
    sub, _ = impatient.webhook_subscriptions.create(
        tenant, endpoint.url("/down"), ["chat.message.*"], None
    )
    endpoint.answer("/down", 500, 500, 500)
    first, second = (
        _delivery(impatient, tenant, sub["_id"], 1),
        _delivery(impatient, tenant, sub["_id"], 2),
    )

    webhooks.attempt_delivery(impatient, first["_id"], 1)  # the failures begin
    assert _status(impatient, first["_id"]) == "failed"
    assert disabled == []
    time.sleep(0.01)  # past the 1 ms allowed
    webhooks.attempt_delivery(impatient, second["_id"], 1)

    shown = impatient.webhook_subscriptions.get(tenant, sub["_id"])
    assert shown["status"] == "disabled" and "failed every attempt" in shown["disabled_reason"]
    assert disabled == [(sub["_id"], shown["disabled_reason"])]
    assert _status(impatient, second["_id"]) == "dead"
    webhooks.attempt_delivery(impatient, first["_id"], 2)  # its retry: nothing is sent
    assert _status(impatient, first["_id"]) == "dead"
    assert len(endpoint.received("/down")) == 2


def test_a_success_ends_the_run_of_failures(
    impatient: WorkerClients, tenant: str, endpoint: WebhookEndpoint
) -> None:
    sub, _ = impatient.webhook_subscriptions.create(
        tenant, endpoint.url("/flaky"), ["chat.message.*"], None
    )
    endpoint.answer("/flaky", 500)
    doc = _delivery(impatient, tenant, sub["_id"], 3)
    webhooks.attempt_delivery(impatient, doc["_id"], 1)
    assert impatient.webhook_subscriptions.get(tenant, sub["_id"])["failing_since"] is not None
    webhooks.attempt_delivery(impatient, doc["_id"], 2)
    after = impatient.webhook_subscriptions.get(tenant, sub["_id"])
    assert after["failing_since"] is None and after["status"] == "active"
    assert _status(impatient, doc["_id"]) == "delivered"


def test_a_stale_attempt_sends_nothing(
    impatient: WorkerClients, tenant: str, endpoint: WebhookEndpoint
) -> None:
    sub, _ = impatient.webhook_subscriptions.create(
        tenant, endpoint.url("/once"), ["chat.message.*"], None
    )
    doc = _delivery(impatient, tenant, sub["_id"], 4)
    webhooks.attempt_delivery(impatient, doc["_id"], 1)
    webhooks.attempt_delivery(impatient, doc["_id"], 1)  # a redelivered task of the same attempt
    assert len(endpoint.received("/once")) == 1


def test_an_overdue_delivery_is_queued_again_by_the_redrive(
    impatient: WorkerClients, tenant: str, broker: redis.Redis, db: Database[Any]
) -> None:
    sub, _ = impatient.webhook_subscriptions.create(
        tenant, "http://127.0.0.1:9/never", ["chat.message.*"], None
    )
    doc = _delivery(impatient, tenant, sub["_id"], 5)  # made, but its task was lost
    long_ago = utcnow() - timedelta(minutes=5)
    db["webhook_deliveries"].update_one(
        {"_id": doc["_id"]}, {"$set": {"next_attempt_at": long_ago}}
    )
    queued = broker.llen(webhooks.QUEUE)
    assert webhooks.redrive_webhooks() >= 1
    assert broker.llen(webhooks.QUEUE) > queued


def test_an_event_without_its_tenant_is_refused_as_permanent() -> None:
    with pytest.raises(MalformedEvent, match="tenantid") as refused:
        webhooks.fan_out({"id": "evt_1", "type": "chat.message.sent"})
    assert isinstance(refused.value, PermanentError)


def test_a_disabled_endpoint_is_told_as_a_system_error_naming_only_its_origin(
    redis_client: redis.Redis,
) -> None:
    subscription = {
        "_id": "whs_disabled_" + str(time.time_ns()),
        "tenant_id": "t_disabled",
        "url": "https://user:pw@hooks.example.com/T0KEN/path?sig=abc",
    }
    webhooks.on_endpoint_disabled(subscription, "the endpoint answered 410 Gone")
    told = [
        event
        for event in map(json.loads, redis_client.lrange(QUEUE, 0, -1))
        if event["type"] == "system.error" and event["subject"] == subscription["_id"]
    ]
    assert [(e["tenantid"], e["data"]["kind"]) for e in told] == [
        ("t_disabled", "endpoint_disabled")
    ]
    data = told[0]["data"]
    assert data["subscription_id"] == subscription["_id"]
    assert data["url"] == "https://hooks.example.com"
    assert data["reason"] == "the endpoint answered 410 Gone"
    assert "T0KEN" not in json.dumps(told) and "pw" not in json.dumps(told)
