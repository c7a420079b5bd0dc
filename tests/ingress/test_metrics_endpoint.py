"""GET /metrics: requests by route template and status, queue depths from the broker lists,
no tenant id in any label, and the optional bearer token."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pydantic import SecretStr
from pymongo.database import Database
from starlette.testclient import TestClient

from core.settings import Settings
from ingress.app import create_app
from tasks.backlog import queue_length
from tasks.queues import MAINTENANCE
from tests.credentials import admin_headers, create_tenant


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(Settings()), raise_server_exceptions=False) as test_client:
        yield test_client


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of the one sample of ``name`` whose labels include ``labels``."""
    for line in text.splitlines():
        found = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if found and all(f'{k}="{v}"' in found.group(1) for k, v in labels.items()):
            return float(found.group(2))
    return 0.0


def test_a_request_is_counted_under_its_route_template_and_status(
    client: TestClient, settings: Settings
) -> None:
    tenant = create_tenant(client, settings)
    template = "/v1/admin/tenants/{tenant_id}"
    before = _sample(
        client.get("/metrics").text,
        "parley_http_requests_total",
        route=template,
        method="GET",
        status="200",
    )
    assert client.get(f"/v1/admin/tenants/{tenant}", headers=admin_headers(settings)).is_success
    scraped = client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    labels = {"route": template, "method": "GET", "status": "200"}
    assert _sample(scraped.text, "parley_http_requests_total", **labels) == before + 1
    assert _sample(scraped.text, "parley_http_request_duration_seconds_count", route=template)
    assert "parley_http_requests_in_flight" in scraped.text
    assert client.get("/no/such/" + secrets.token_hex(4)).status_code == 404
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert _sample(client.get("/metrics").text, "parley_http_requests_total", **unmatched) >= 1


def test_no_tenant_id_appears_in_the_metrics(client: TestClient, settings: Settings) -> None:
    tenants = [create_tenant(client, settings) for _ in range(2)]
    for tenant in tenants:
        client.get(f"/v1/admin/tenants/{tenant}", headers=admin_headers(settings))
        client.get(f"/v1/admin/tenants/{tenant}/keys", headers=admin_headers(settings))
    text = client.get("/metrics").text
    assert "/v1/admin/tenants/{tenant_id}" in text  # the requests were counted
    assert not any(tenant in text for tenant in tenants)


def test_queue_depth_counts_every_priority_list_of_a_queue(
    client: TestClient, broker: redis.Redis
) -> None:
    marker = "metrics-test-" + secrets.token_hex(4)
    waiting = queue_length(broker, MAINTENANCE)
    broker.lpush(MAINTENANCE, marker)
    broker.lpush(f"{MAINTENANCE}\x06\x169", marker, marker)
    try:
        text = client.get("/metrics").text
        assert _sample(text, "parley_queue_depth", queue=MAINTENANCE) == waiting + 3
    finally:
        broker.lrem(MAINTENANCE, 0, marker)
        broker.lrem(f"{MAINTENANCE}\x06\x169", 0, marker)


def test_a_metrics_token_is_required_when_set(db: Database[Any], broker: redis.Redis) -> None:
    token = secrets.token_urlsafe(16)
    app = create_app(Settings(metrics_token=SecretStr(token)))
    with TestClient(app, raise_server_exceptions=False) as guarded:
        refused = guarded.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert token not in refused.text
        wrong = guarded.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        allowed = guarded.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200
        assert "parley_queue_depth" in allowed.text
