"""The webhook subscription API, in-process against real MongoDB and Redis: secrets shown once,
endpoints checked before anything is stored, everything scoped to the credential's tenant."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.settings import Settings
from ingress.app import create_app
from storage.webhook_deliveries import WebhookDeliveryRepository
from tests.credentials import tenant_headers

BASE = "/v1/webhooks/subscriptions"


@pytest.fixture(scope="module")
def production(db: Database[Any], broker: redis.Redis, settings: Settings) -> Iterator[TestClient]:
    assert not settings.webhooks_allow_private
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def development(db: Database[Any], broker: redis.Redis, settings: Settings) -> Iterator[TestClient]:
    allowed = settings.model_copy(update={"webhooks_allow_private": True})
    with TestClient(create_app(allowed), raise_server_exceptions=False) as client:
        yield client


def create(client: TestClient, settings: Settings, tenant: str, **body: Any) -> Any:
    body = {"url": "http://127.0.0.1:9/hook", "events": ["chat.message.*"], **body}
    return client.post(BASE, headers=tenant_headers(settings, tenant), json=body)


def stored(db: Database[Any], tenant: str) -> int:
    return db["webhook_subscriptions"].count_documents({"tenant_id": tenant})


def test_the_secret_is_shown_once_and_never_stored_listed_or_logged_in_clear(
    development: TestClient,
    settings: Settings,
    tenant: str,
    db: Database[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = create(development, settings, tenant, description="orders")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert answer.headers["location"] == f"{BASE}/{body['id']}"
    assert body["events"] == ["chat.message.*"] and body["status"] == "active"
    headers = tenant_headers(settings, tenant)
    listed = development.get(BASE, headers=headers)
    one = development.get(f"{BASE}/{body['id']}", headers=headers)
    assert [s["id"] for s in listed.json()["data"]] == [body["id"]]
    assert one.json()["description"] == "orders"
    for text in (listed.text, one.text):
        assert secret not in text and "secret" not in text
    doc = db["webhook_subscriptions"].find_one({"_id": body["id"]})
    assert doc is not None and secret not in str(doc)
    assert secret.removeprefix("whsec_") not in str(doc)
    rotated = development.post(f"{BASE}/{body['id']}/rotate", headers=headers).json()["secret"]
    again = development.get(f"{BASE}/{body['id']}", headers=headers).text
    assert rotated not in again and secret not in again
    assert caplog.records and secret not in caplog.text and rotated not in caplog.text


@pytest.mark.parametrize(
    "url",
    ["https://127.0.0.1/hook", "https://localhost/hook", "https://[::1]/hook", "https://10.0.0.7/"],
)
def test_a_private_endpoint_is_refused_without_the_development_setting(
    production: TestClient, settings: Settings, tenant: str, db: Database[Any], url: str
) -> None:
    answer = create(production, settings, tenant, url=url)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/endpoint-refused")
    assert "private address" in answer.json()["detail"]
    assert stored(db, tenant) == 0


def test_an_http_endpoint_is_refused_in_production(
    production: TestClient, settings: Settings, tenant: str, db: Database[Any]
) -> None:
    answer = create(production, settings, tenant, url="http://example.com/hook")
    assert answer.status_code == 422, answer.text
    assert "https" in answer.json()["detail"]
    assert stored(db, tenant) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"events": ["chat.mesage.*"]},  # matches no event type
        {"events": ["chat.*"]},  # * is one segment: no chat type has two
        {"events": ["chat.message.**"]},
        {"events": []},
        {"events": "chat.message.sent"},
        {"url": ""},
        {"unknown": 1},
        {"description": "x" * 501},
    ],
)
def test_bad_input_is_a_422_problem_and_stores_nothing(
    development: TestClient, settings: Settings, tenant: str, db: Database[Any], body: Any
) -> None:
    answer = create(development, settings, tenant, **body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert stored(db, tenant) == 0


def test_malformed_json_is_a_400_problem(
    development: TestClient, settings: Settings, tenant: str
) -> None:
    headers = {**tenant_headers(settings, tenant), "content-type": "application/json"}
    answer = development.post(BASE, headers=headers, content=b"{")
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"


def test_another_tenants_subscription_is_not_found_and_untouched(
    development: TestClient, settings: Settings, tenant: str
) -> None:
    theirs = create(development, settings, tenant).json()
    mine = tenant_headers(settings, tenant + "-other")
    for method, path in (
        ("GET", f"{BASE}/{theirs['id']}"),
        ("DELETE", f"{BASE}/{theirs['id']}"),
        ("POST", f"{BASE}/{theirs['id']}/rotate"),
        ("GET", f"{BASE}/{theirs['id']}/deliveries"),
        ("POST", f"{BASE}/{theirs['id']}/deliveries/msg_x/replay"),
    ):
        answer = development.request(method, path, headers=mine)
        assert answer.status_code == 404, (method, path, answer.text)
    assert development.get(BASE, headers=mine).json()["data"] == []
    kept = development.get(f"{BASE}/{theirs['id']}", headers=tenant_headers(settings, tenant))
    assert kept.status_code == 200


def test_a_credential_without_the_webhooks_scope_is_forbidden(
    development: TestClient, settings: Settings, tenant: str
) -> None:
    headers = tenant_headers(settings, tenant, scopes=["messages:read"])
    assert development.get(BASE, headers=headers).status_code == 403


def test_a_deleted_subscription_is_gone(
    development: TestClient, settings: Settings, tenant: str
) -> None:
    sub = create(development, settings, tenant).json()
    headers = tenant_headers(settings, tenant)
    assert development.delete(f"{BASE}/{sub['id']}", headers=headers).status_code == 204
    assert development.get(f"{BASE}/{sub['id']}", headers=headers).status_code == 404
    assert development.delete(f"{BASE}/{sub['id']}", headers=headers).status_code == 404


def test_the_delivery_log_pages_newest_first_and_an_open_delivery_is_not_replayed(
    development: TestClient,
    settings: Settings,
    tenant: str,
    db: Database[Any],
    redis_client: redis.Redis,
) -> None:
    sub = create(development, settings, tenant).json()
    repo = WebhookDeliveryRepository(db, redis_client)
    made = [
        repo.create(
            tenant_id=tenant,
            subscription_id=sub["id"],
            event_id=f"evt_{n}",
            event_type="chat.message.sent",
            conversation_id="conv_log",
            payload="{}",
        )
        for n in range(3)
    ]
    headers = tenant_headers(settings, tenant)
    first = development.get(f"{BASE}/{sub['id']}/deliveries", headers=headers, params={"limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    rest = development.get(
        f"{BASE}/{sub['id']}/deliveries", headers=headers, params={"cursor": page["next_cursor"]}
    ).json()
    shown = [d["event_id"] for d in page["data"] + rest["data"]]
    assert shown == ["evt_2", "evt_1", "evt_0"] and rest["next_cursor"] is None
    assert page["data"][0]["status"] == "pending" and page["data"][0]["attempts"] == []
    assert made[0] is not None
    replay = development.post(
        f"{BASE}/{sub['id']}/deliveries/{made[0]['_id']}/replay", headers=headers
    )
    assert replay.status_code == 409, replay.text
