"""The compliance report counts exactly what happened to a tenant in the period: failed logins
against its credentials, its erasures, the card numbers the real processing pipeline redacted,
and what the retention sweep deleted; as JSON and as CSV, for the tenant and the operator."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.ids import new_id
from core.settings import Settings
from core.timeutil import isoformat, utcnow
from ingress.app import create_app
from storage.compliance import METRICS
from tasks.maintenance import apply_retention
from tasks.process import process
from tests.credentials import (
    admin_headers,
    bearer,
    client_address,
    create_tenant,
    issue_key,
    key_secret,
    tenant_headers,
)

CARD = "4111 1111 1111 1111"


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), client=client_address()) as test_client:
        yield test_client


def test_the_report_counts_what_the_test_made_happen(
    client: TestClient, settings: Settings, db: Database[Any]
) -> None:
    start = utcnow()
    tenant = create_tenant(client, settings, retention_days=7)
    as_tenant = tenant_headers(settings, tenant)
    key = issue_key(client, settings, tenant, ["messages:read"])
    wrong = key["key"][: -len(key_secret(key["key"]))] + "y" * 43
    for _ in range(3):
        assert client.get("/v1/conversations", headers=bearer(wrong)).status_code == 401
    for text in (f"my card is {CARD}", f"again: {CARD}, thanks", "no card here"):
        accepted = client.post(
            "/v1/messages", headers=as_tenant, json={"user_id": "dora", "text": text}
        )
        assert accepted.status_code == 202, accepted.text
        process(tenant, accepted.json()["message_id"])
    assert client.post("/v1/privacy/erase", headers=as_tenant, json={"user_id": "eve"}).is_success
    eight_days_ago = utcnow() - timedelta(days=8)
    db["messages"].insert_one(
        {
            "_id": new_id("msg"),
            "tenant_id": tenant,
            "conversation_id": "conv_old",
            "direction": "inbound",
            "dedupe_key": new_id("dedupe"),
            "status": "completed",
            "created_at": eight_days_ago,
            "updated_at": eight_days_ago,
        }
    )
    apply_retention()
    period = {"from": isoformat(start), "to": isoformat(utcnow() + timedelta(seconds=1))}

    answer = client.get("/v1/compliance/report", headers=as_tenant, params=period)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["tenant_id"] == tenant
    metrics = report["metrics"]
    assert list(metrics) == list(METRICS)
    assert metrics["auth_failures"] == 3
    assert metrics["erasures"] == 1
    assert metrics["pii_redacted_messages"] == 2
    assert metrics["pii_redactions_card"] == 2
    assert metrics["pii_redactions_iban"] == 0
    assert metrics["retention_runs"] == 1
    assert metrics["retention_deleted_messages"] == 1

    as_csv = client.get(
        "/v1/compliance/report", headers=as_tenant, params={**period, "format": "csv"}
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["tenant_id", "from", "to", "metric", "value"]
    assert {row[3]: int(row[4]) for row in rows[1:]} == metrics
    assert {row[0] for row in rows[1:]} == {tenant}

    operator = client.get(
        "/v1/compliance/report",
        headers=admin_headers(settings),
        params={**period, "tenant_id": tenant},
    )
    assert operator.json()["metrics"] == metrics
    # Before the period nothing happened.
    earlier = {"from": isoformat(start - timedelta(days=1)), "to": isoformat(start)}
    quiet = client.get("/v1/compliance/report", headers=as_tenant, params=earlier).json()
    assert set(quiet["metrics"].values()) == {0}


def test_bad_periods_and_formats_are_refused(client: TestClient, settings: Settings) -> None:
    tenant = create_tenant(client, settings)
    headers = tenant_headers(settings, tenant)
    for params, slug in (
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "invalid-period"),
        ({"from": "last week"}, "invalid-filter"),
        ({"format": "xml"}, "invalid-filter"),
    ):
        refused = client.get("/v1/compliance/report", headers=headers, params=params)
        assert refused.status_code == 400 and refused.json()["type"].endswith(slug), params
    unnamed = client.get("/v1/compliance/report", headers=admin_headers(settings))
    assert unnamed.status_code == 400 and unnamed.json()["type"].endswith("tenant-required")
