"""The ingress with ``PARLEY_SECURITY_HUB_ADDR`` set: credentials are the hub's to judge over
real gRPC (the reference hub on the test database), and a hub that is down fails closed."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.settings import Settings
from core.tokens import mint_token
from ingress.app import create_app
from storage.credentials import ApiKeyRepository
from storage.tenants import TenantRepository
from tests.credentials import admin_headers, bearer, client_address, tenant_headers
from tests.services.security_hub.hub import Hub

MESSAGE = {"user_id": "ana", "text": "hello"}


@pytest.fixture
def hub(db: Database[Any], settings: Settings) -> Iterator[Hub]:
    running = Hub(db, settings)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def client(hub: Hub, db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    # No answer cache, so each request asks the hub.
    app = create_app(
        Settings(security_hub_addr=hub.addr, security_hub_cache_seconds=0, tenant_cache_seconds=0)
    )
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as test_client:
        yield test_client


def stored(db: Database[Any], tenant: str) -> int:
    return db["messages"].count_documents({"tenant_id": tenant})


def test_keys_and_tokens_are_judged_by_the_hub(
    client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    TenantRepository(db).ensure(tenant, tenant)
    keys = ApiKeyRepository(db)
    writer, writer_key = keys.issue(tenant, "writer", ["messages:write"])
    _, reader_key = keys.issue(tenant, "reader", ["messages:read"])

    assert client.post("/v1/messages", headers=bearer(writer_key), json=MESSAGE).status_code == 202
    assert (
        client.post(
            "/v1/messages", headers=tenant_headers(settings, tenant), json=MESSAGE
        ).status_code
        == 202
    )
    refused = client.post("/v1/messages", headers=bearer(reader_key), json=MESSAGE)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/insufficient-scope")

    keys.revoke(tenant, writer["_id"])
    revoked = client.post("/v1/messages", headers=bearer(writer_key), json=MESSAGE)
    assert revoked.status_code == 401
    assert stored(db, tenant) == 2


def test_a_hub_that_is_down_fails_closed_with_503(
    client: TestClient, hub: Hub, settings: Settings, db: Database[Any], tenant: str
) -> None:
    _, key = ApiKeyRepository(db).issue(tenant, "writer", ["messages:write"])
    hub.stop()
    for headers in (bearer(key), tenant_headers(settings, tenant)):
        response = client.post("/v1/messages", headers=headers, json=MESSAGE)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/security-hub-unavailable")
        assert int(response.headers["retry-after"]) >= 1
    assert stored(db, tenant) == 0

    hub.start()
    # The client reconnects on its own; the breaker lets a probe through after it reopens.
    statuses = []
    for _ in range(100):
        statuses.append(client.post("/v1/messages", headers=bearer(key), json=MESSAGE).status_code)
        if statuses[-1] == 202:
            break
        time.sleep(0.1)
    assert statuses[-1] == 202
    assert set(statuses) <= {202, 503}


def test_answers_are_cached_briefly_so_a_hub_blip_does_not_refuse_known_keys(
    hub: Hub, settings: Settings, db: Database[Any], broker: redis.Redis, tenant: str
) -> None:
    _, key = ApiKeyRepository(db).issue(tenant, "writer", ["messages:write"])
    _, unseen = ApiKeyRepository(db).issue(tenant, "other", ["messages:write"])
    app = create_app(Settings(security_hub_addr=hub.addr, security_hub_cache_seconds=60))
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as client:
        assert client.post("/v1/messages", headers=bearer(key), json=MESSAGE).status_code == 202
        hub.stop()
        # Token and permission answers come from the cache; a key never seen fails closed.
        assert client.post("/v1/messages", headers=bearer(key), json=MESSAGE).status_code == 202
        assert client.post("/v1/messages", headers=bearer(unseen), json=MESSAGE).status_code == 503
    assert stored(db, tenant) == 2


def test_failures_from_an_address_do_not_refuse_a_valid_credential_through_the_hub(
    hub: Hub, settings: Settings, db: Database[Any], broker: redis.Redis, tenant: str
) -> None:
    TenantRepository(db).ensure(tenant, tenant)
    _, key = ApiKeyRepository(db).issue(tenant, "writer", ["messages:write"])
    # The default allowance (30), refilled so slowly that the counts below are exact.
    app = create_app(
        Settings(security_hub_addr=hub.addr, tenant_cache_seconds=0, auth_failure_per_second=0.001)
    )
    bad = "bad-" + secrets.token_hex(8)
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as nat:
        statuses = [
            nat.post("/v1/messages", headers=bearer(f"{bad}-{i}"), json=MESSAGE).status_code
            for i in range(60)
        ]
        assert statuses == [401] * 30 + [429] * 30
        for headers in (tenant_headers(settings, tenant), bearer(key)):
            response = nat.post("/v1/messages", headers=headers, json=MESSAGE)
            assert response.status_code == 202, response.text
    assert stored(db, tenant) == 2


def test_a_revoked_jwt_is_refused_through_the_hub_although_its_answer_is_cached(
    hub: Hub, settings: Settings, db: Database[Any], broker: redis.Redis, tenant: str
) -> None:
    secret = settings.require_jwt_secret()
    stolen = mint_token(secret, tenant, "svc", 600, token_id="jti_stolen")
    sibling = mint_token(secret, tenant, "svc", 600, token_id="jti_sibling")
    app = create_app(Settings(security_hub_addr=hub.addr, security_hub_cache_seconds=60))
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as client:
        assert client.post("/v1/messages", headers=bearer(stolen), json=MESSAGE).status_code == 202
        expires_at = jwt.decode(stolen, options={"verify_signature": False})["exp"]
        revoked = client.post(
            f"/v1/admin/tenants/{tenant}/revoked-tokens",
            headers=admin_headers(settings),
            json={"jti": "jti_stolen", "expires_at": expires_at},
        )
        assert revoked.status_code == 204, revoked.text
        refused = client.post("/v1/messages", headers=bearer(stolen), json=MESSAGE)
        assert refused.status_code == 401
        assert refused.json()["detail"] == "the token was revoked"
        assert client.post("/v1/messages", headers=bearer(sibling), json=MESSAGE).status_code == 202
    assert stored(db, tenant) == 2


@pytest.mark.parametrize("through_the_hub", [False, True], ids=["local", "hub"])
def test_an_empty_scope_claim_grants_nothing_and_no_claim_every_tenant_scope(
    through_the_hub: bool,
    hub: Hub,
    settings: Settings,
    db: Database[Any],
    broker: redis.Redis,
    tenant: str,
) -> None:
    secret = settings.require_jwt_secret()
    empty = mint_token(secret, tenant, "svc", 600, scopes=[])
    absent = mint_token(secret, tenant, "svc", 600)
    assert jwt.decode(empty, options={"verify_signature": False})["scope"] == ""
    app = create_app(Settings(security_hub_addr=hub.addr) if through_the_hub else Settings())
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as client:
        refused = client.post("/v1/messages", headers=bearer(empty), json=MESSAGE)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("/insufficient-scope")
        assert client.post("/v1/messages", headers=bearer(absent), json=MESSAGE).status_code == 202
    assert stored(db, tenant) == 1
