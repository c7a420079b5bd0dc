"""The analytics API, in-process against real MongoDB and Redis: the figures of the facts in the
range, per bucket, for the credential's tenant only; a bad parameter is a problem, not a 500."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from consumers.analytics import Analytics
from core.scopes import MESSAGES_READ
from core.settings import Settings
from core.timeutil import isoformat
from ingress.app import create_app
from tests.analytics_events import T0, conversation
from tests.credentials import tenant_headers

RANGE = {"from": isoformat(T0), "to": isoformat(T0 + timedelta(hours=3))}


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _handled(db: Database[Any], tenant: str, hours: list[int], waits: list[int]) -> None:
    handler = Analytics(db)
    for hour in hours:
        _, events = conversation(db, tenant, T0 + timedelta(hours=hour), waits)
        for one in events:
            handler.handle(one)


def test_the_summary_gives_the_tenants_own_figures(
    client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    _handled(db, tenant, [0, 2], [100, 300])
    _handled(db, "t_other", [0], [5])  # another tenant's facts count nowhere here

    answer = client.get(
        "/v1/analytics/summary", params=RANGE, headers=tenant_headers(settings, tenant)
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["start"], body["end"], body["channel"]) == (RANGE["from"], RANGE["to"], None)
    figures = body["figures"]
    assert figures["messages_in"] == 4 and figures["messages_out"] == 4
    assert figures["conversations_started"] == 2
    assert (figures["response_p50_ms"], figures["response_p95_ms"]) == (100, 300)
    assert figures["delivery_rate"] == 1.0 and figures["read_rate"] == 0.0
    assert figures["languages"] == {"en": 4}


def test_the_timeseries_has_every_bucket_and_only_the_metric_asked_for(
    client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    _handled(db, tenant, [0, 2], [100])

    answer = client.get(
        "/v1/analytics/timeseries",
        params={**RANGE, "interval": "hour", "metric": "messages_in"},
        headers=tenant_headers(settings, tenant),
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["metrics"] == ["messages_in"]
    assert [b["start"] for b in body["buckets"]] == [
        isoformat(T0 + timedelta(hours=h)) for h in range(3)
    ]
    assert [b["figures"] for b in body["buckets"]] == [
        {"messages_in": 1},
        {"messages_in": 0},
        {"messages_in": 1},
    ]


def test_a_channel_filter_counts_that_channel_only(
    client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    _handled(db, tenant, [0], [100])
    headers = tenant_headers(settings, tenant)

    web = client.get("/v1/analytics/summary", params={**RANGE, "channel": "web"}, headers=headers)
    slack = client.get(
        "/v1/analytics/summary", params={**RANGE, "channel": "slack"}, headers=headers
    )

    assert web.json()["figures"]["messages_in"] == 1
    assert slack.json()["figures"]["messages_in"] == 0


@pytest.mark.parametrize(
    ("path", "params", "status", "slug"),
    [
        ("summary", {"from": "yesterday"}, 400, "invalid-time"),
        ("summary", {"to": "2026-03-01T10:00:00"}, 400, "invalid-time"),  # no offset
        ("summary", {"channel": "telegram"}, 400, "invalid-filter"),
        ("summary", {"from": RANGE["to"], "to": RANGE["from"]}, 422, "invalid-range"),
        ("summary", {"from": "2020-01-01T00:00:00Z", "to": RANGE["to"]}, 422, "invalid-range"),
        ("timeseries", {"interval": "week"}, 400, "invalid-filter"),
        ("timeseries", {"metric": "revenue"}, 400, "invalid-filter"),
        (
            "timeseries",
            {**RANGE, "to": isoformat(T0 + timedelta(days=2)), "interval": "minute"},
            422,
            "too-many-buckets",
        ),
    ],
)
def test_a_bad_parameter_is_a_problem(
    client: TestClient,
    settings: Settings,
    tenant: str,
    path: str,
    params: dict[str, str],
    status: int,
    slug: str,
) -> None:
    answer = client.get(
        f"/v1/analytics/{path}", params=params, headers=tenant_headers(settings, tenant)
    )

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].endswith(slug)


def test_the_figures_need_the_analytics_scope(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    headers = tenant_headers(settings, tenant, scopes=[MESSAGES_READ])
    assert client.get("/v1/analytics/summary", headers=headers).status_code == 403
