"""Rate limits on the real Redis: per tenant and per credential, 429 with ``Retry-After`` and
``RateLimit-*`` headers, configurable per tenant, and one tenant's burst leaves others alone."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.settings import Settings
from ingress.app import create_app
from storage.rate_limits import Bucket, RateLimiter
from tests.credentials import (
    admin_headers,
    bearer,
    client_address,
    create_tenant,
    issue_key,
    tenant_headers,
)

MESSAGE = {"user_id": "ana", "text": "hello"}
# Refills so slowly that no token comes back during a test: the counts below are exact.
TRICKLE = 0.001


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    app = create_app(Settings(tenant_cache_seconds=0))
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as test_client:
        yield test_client


def stored(db: Database[Any], tenant: str) -> int:
    return db["messages"].count_documents({"tenant_id": tenant})


def test_a_burst_beyond_the_tenants_limit_gets_429s_while_another_tenant_flows(
    client: TestClient, settings: Settings, db: Database[Any]
) -> None:
    limited = create_tenant(client, settings, rate_limits={"per_second": TRICKLE, "burst": 5})
    other = create_tenant(client, settings)
    limited_headers, other_headers = (
        tenant_headers(settings, limited),
        tenant_headers(settings, other),
    )
    answers, others = [], []
    for _ in range(15):  # interleaved: the same moment for both tenants
        answers.append(client.post("/v1/messages", headers=limited_headers, json=MESSAGE))
        others.append(client.post("/v1/messages", headers=other_headers, json=MESSAGE))

    assert [r.status_code for r in answers] == [202] * 5 + [429] * 10
    assert [r.status_code for r in others] == [202] * 15
    assert [r.headers["ratelimit-remaining"] for r in answers[:5]] == ["4", "3", "2", "1", "0"]
    for refused in answers[5:]:
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["type"].endswith("/rate-limited") and problem["limit"] == "tenant"
        assert refused.headers["ratelimit-limit"] == "5"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert int(refused.headers["retry-after"]) >= 1
        assert int(refused.headers["ratelimit-reset"]) >= int(refused.headers["retry-after"])
    assert stored(db, limited) == 5  # a refused request stores nothing
    assert stored(db, other) == 15


def test_each_credential_has_its_own_limit_inside_the_tenants(
    client: TestClient, settings: Settings, db: Database[Any]
) -> None:
    tenant = create_tenant(
        client,
        settings,
        rate_limits={"credential_per_second": TRICKLE, "credential_burst": 3},
    )
    first = issue_key(client, settings, tenant, ["messages:write"], name="first")
    second = issue_key(client, settings, tenant, ["messages:write"], name="second")
    statuses = [
        client.post("/v1/messages", headers=bearer(first["key"]), json=MESSAGE).status_code
        for _ in range(5)
    ]
    assert statuses == [202, 202, 202, 429, 429]
    refused = client.post("/v1/messages", headers=bearer(first["key"]), json=MESSAGE)
    assert refused.json()["limit"] == "credential"
    assert (
        client.post("/v1/messages", headers=bearer(second["key"]), json=MESSAGE).status_code == 202
    )
    assert stored(db, tenant) == 4


def test_new_limits_apply_without_a_restart(client: TestClient, settings: Settings) -> None:
    tenant = create_tenant(client, settings)
    headers = tenant_headers(settings, tenant)
    # The defaults: the credential's bucket (100) is tighter than the tenant's (200).
    assert client.get("/v1/messages/msg_x", headers=headers).headers["ratelimit-limit"] == "100"
    changed = client.patch(
        f"/v1/admin/tenants/{tenant}",
        headers=admin_headers(settings),
        json={"rate_limits": {"per_second": TRICKLE, "burst": 2}},
    )
    assert changed.status_code == 200
    answers = [client.get("/v1/messages/msg_x", headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [404, 404, 429, 429]
    assert [a.headers["ratelimit-limit"] for a in answers] == ["2"] * 4


def test_a_refused_take_spends_no_bucket(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client, prefix="parley:test:" + secrets.token_hex(4))
    empty = Bucket("tenant", limiter.key("empty"), TRICKLE, 1)
    full = Bucket("credential", limiter.key("full"), TRICKLE, 3)
    assert limiter.take([empty]).allowed
    refused = limiter.take([empty, full])
    assert not refused.allowed
    assert (refused.bucket, refused.remaining, refused.limit) == ("tenant", 0, 1)
    assert refused.retry_after > 0
    assert limiter.take([full]).remaining == 2  # the refused take left its 3 tokens alone


def test_asking_costs_nothing(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client, prefix="parley:test:" + secrets.token_hex(4))
    bucket = Bucket("source", limiter.key("ask"), TRICKLE, 2)
    assert [limiter.take([bucket], cost=0).allowed for _ in range(5)] == [True] * 5
    assert [limiter.take([bucket]).allowed for _ in range(3)] == [True, True, False]


def test_a_daily_message_quota_refuses_past_it_and_counts_no_refusal(
    client: TestClient, settings: Settings, db: Database[Any]
) -> None:
    tenant = create_tenant(client, settings, quotas={"messages_per_day": 3})
    headers = tenant_headers(settings, tenant)
    replay = {**headers, "Idempotency-Key": "same"}
    assert client.post("/v1/messages", headers=replay, json=MESSAGE).status_code == 202
    assert client.post("/v1/messages", headers=replay, json=MESSAGE).status_code == 202  # replay
    invalid = client.post("/v1/messages", headers=headers, json={"user_id": "a"})
    assert invalid.status_code == 422  # refused before the quota is counted
    answers = [client.post("/v1/messages", headers=headers, json=MESSAGE) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 429, 429]
    refused = answers[2]
    assert refused.json()["type"].endswith("/quota-exceeded")
    assert 1 <= int(refused.headers["retry-after"]) <= 86_400
    assert stored(db, tenant) == 3


def test_a_failure_is_counted_in_every_bucket_that_can_pay(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client, prefix="parley:test:" + secrets.token_hex(4))
    address = Bucket("address", limiter.key("address"), TRICKLE, 1)
    key = Bucket("key", limiter.key("key"), TRICKLE, 3)
    assert limiter.take_each([address, key]).allowed
    refused = limiter.take_each([address, key])  # the address is dry: the key still pays
    assert not refused.allowed and refused.bucket == "address"
    assert [look.remaining for look in limiter.peek([address, key])] == [0, 1]


def test_peeking_tells_each_bucket_apart_and_spends_nothing(redis_client: redis.Redis) -> None:
    limiter = RateLimiter(redis_client, prefix="parley:test:" + secrets.token_hex(4))
    dry = Bucket("dry", limiter.key("dry"), TRICKLE, 1)
    full = Bucket("full", limiter.key("full"), TRICKLE, 2)
    assert limiter.take([dry]).allowed
    for _ in range(3):
        looks = limiter.peek([dry, full])
        assert [(look.bucket, look.allowed, look.remaining) for look in looks] == [
            ("dry", False, 0),
            ("full", True, 2),
        ]
        assert looks[0].retry_after > 0 and looks[1].retry_after == 0
