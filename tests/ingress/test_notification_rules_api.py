"""The notification rule API, in-process against real MongoDB and Redis: rules validated whole
before anything is stored, Slack URLs checked like webhook endpoints and never shown whole,
everything scoped to the credential's tenant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.settings import Settings
from ingress.app import create_app
from storage.notifications import NotificationLog
from tests.credentials import tenant_headers

BASE = "/v1/notifications/rules"
SLACK_URL = "http://127.0.0.1:9/services/T000/B000/secretpath"
RULE = {
    "condition": {"kind": "dead_letters_above", "count": 5, "window_seconds": 600},
    "notify": [
        {"email": "ops@example.com"},
        {"slack_webhook_url": SLACK_URL},
        {"sms": "+15551234567"},
    ],
}


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


def stored(db: Database[Any], tenant: str) -> int:
    return db["notification_rules"].count_documents({"tenant_id": tenant})


def test_a_rule_is_stored_with_its_defaults_and_listed_without_the_slack_secret(
    development: TestClient, settings: Settings, tenant: str, db: Database[Any]
) -> None:
    headers = tenant_headers(settings, tenant)
    answer = development.post(BASE, headers=headers, json=RULE)
    assert answer.status_code == 201, answer.text
    rule = answer.json()
    assert rule["id"].startswith("ntr_") and answer.headers["location"] == f"{BASE}/{rule['id']}"
    assert rule["quiet_seconds"] == 3600
    assert rule["condition"] == RULE["condition"]
    assert rule["notify"][0] == {"email": "ops@example.com"}
    assert rule["notify"][1] == {"slack_webhook_url": "http://127.0.0.1/…"}
    listed = development.get(BASE, headers=headers)
    assert [r["id"] for r in listed.json()["data"]] == [rule["id"]]
    assert "secretpath" not in listed.text and "secretpath" not in answer.text
    doc = db["notification_rules"].find_one({"_id": rule["id"]})
    assert doc is not None and doc["notify"][1]["slack_webhook_url"] == SLACK_URL


def test_a_delivery_rate_rule_takes_its_defaults(
    development: TestClient, settings: Settings, tenant: str
) -> None:
    body = {
        "condition": {"kind": "delivery_rate_below", "percent": 90},
        "notify": RULE["notify"][:1],
    }
    answer = development.post(BASE, headers=tenant_headers(settings, tenant), json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["condition"] == {
        "kind": "delivery_rate_below",
        "percent": 90.0,
        "window_seconds": 600,
        "min_sent": 20,
    }


@pytest.mark.parametrize(
    "change",
    [
        {"condition": {"kind": "dead_letters_above"}},  # no count
        {"condition": {"kind": "dead_letters_above", "count": "5"}},  # strict: a string
        {"condition": {"kind": "dead_letters_above", "count": -1}},
        {"condition": {"kind": "delivery_rate_below", "percent": 0}},
        {"condition": {"kind": "delivery_rate_below", "percent": 101}},
        {"condition": {"kind": "credentials_refused", "channel": "carrier-pigeon"}},
        {"condition": {"kind": "endpoint_disabled", "extra": 1}},
        {"condition": {"kind": "the_moon_is_full"}},
        {"notify": []},
        {"notify": [{"email": "not an address"}]},
        {"notify": [{"email": "ops@example.com\r\nBcc: all@example.com"}]},
        {"notify": [{"sms": "5551234567"}]},
        {"notify": [{"pager": "ops"}]},
        {"notify": [{"email": "ops@example.com", "sms": "+15551234567"}]},
        {"quiet_seconds": 0},
        {"unknown": 1},
    ],
)
def test_bad_input_is_a_422_problem_and_stores_nothing(
    development: TestClient, settings: Settings, tenant: str, db: Database[Any], change: Any
) -> None:
    answer = development.post(
        BASE, headers=tenant_headers(settings, tenant), json={**RULE, **change}
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert stored(db, tenant) == 0


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1/hook", "https://10.0.0.7/services/x", "http://example.com/hook"]
)
def test_a_private_or_plain_http_slack_url_is_refused_in_production(
    production: TestClient, settings: Settings, tenant: str, db: Database[Any], url: str
) -> None:
    body = {**RULE, "notify": [{"slack_webhook_url": url}]}
    answer = production.post(BASE, headers=tenant_headers(settings, tenant), json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"].endswith("/endpoint-refused")
    assert stored(db, tenant) == 0


def test_another_tenants_rule_is_not_found_and_a_deleted_rule_is_gone(
    development: TestClient, settings: Settings, tenant: str
) -> None:
    mine = tenant_headers(settings, tenant)
    rule = development.post(BASE, headers=mine, json=RULE).json()
    theirs = tenant_headers(settings, tenant + "-other")
    assert development.delete(f"{BASE}/{rule['id']}", headers=theirs).status_code == 404
    assert development.get(BASE, headers=theirs).json()["data"] == []
    assert development.delete(f"{BASE}/{rule['id']}", headers=mine).status_code == 204
    assert development.get(BASE, headers=mine).json()["data"] == []
    assert development.delete(f"{BASE}/{rule['id']}", headers=mine).status_code == 404


def test_a_credential_without_the_notifications_scope_is_forbidden(
    development: TestClient, settings: Settings, tenant: str
) -> None:
    headers = tenant_headers(settings, tenant, scopes=["webhooks:manage"])
    assert development.get(BASE, headers=headers).status_code == 403
    assert development.get("/v1/notifications", headers=headers).status_code == 403


def test_the_alert_log_pages_newest_first_and_only_the_tenants_own(
    development: TestClient, settings: Settings, tenant: str, db: Database[Any]
) -> None:
    log = NotificationLog(db)
    for n in range(3):
        log.open(
            tenant_id=tenant,
            rule_id="ntr_x",
            condition="endpoint_disabled",
            subject=f"whs_{n}",
            incident=f"evt_{n}",
            summary=f"endpoint {n} disabled",
            targets=["email:ops@example.com"],
        )
    headers = tenant_headers(settings, tenant)
    first = development.get("/v1/notifications", headers=headers, params={"limit": 2}).json()
    assert [a["summary"] for a in first["data"]] == ["endpoint 2 disabled", "endpoint 1 disabled"]
    assert first["data"][0]["targets"] == [
        {"target": "email:ops@example.com", "outcome": "pending"}
    ]
    rest = development.get(
        "/v1/notifications", headers=headers, params={"cursor": first["next_cursor"]}
    ).json()
    assert [a["summary"] for a in rest["data"]] == ["endpoint 0 disabled"]
    assert rest["next_cursor"] is None
    other = tenant_headers(settings, tenant + "-other")
    assert development.get("/v1/notifications", headers=other).json()["data"] == []
