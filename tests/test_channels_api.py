"""Channel configuration API and webhook routing, in-process against real MongoDB and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.ids import new_id
from core.settings import Settings
from ingress.app import create_app
from ingress.tokens import mint_token

SECRETS = {
    "access_token": "EAAG-FAKE-token",
    "app_secret": "FAKE-app-secret",
    "verify_token": "FAKE-verify",
}


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def auth(settings: Settings, tenant: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {mint_token(settings.require_jwt_secret(), tenant, 'ops', 600)}"
    }


def register(client: TestClient, settings: Settings, tenant: str, **overrides: Any) -> Any:
    body = {"channel": "whatsapp", "account_id": new_id("pn"), "secrets": SECRETS, **overrides}
    return client.post("/v1/admin/channels", headers=auth(settings, tenant), json=body)


def test_registering_a_channel_answers_its_webhook_url_and_no_secret(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    response = register(client, settings, tenant)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["webhook_url"] == f"{settings.public_base_url}/webhooks/whatsapp/{body['id']}"
    assert body["secrets_set"] == sorted(SECRETS)
    listed = client.get("/v1/admin/channels", headers=auth(settings, tenant))
    one = client.get(f"/v1/admin/channels/{body['id']}", headers=auth(settings, tenant))
    for text in (response.text, listed.text, one.text):
        for secret in SECRETS.values():
            assert secret not in text
    assert [c["id"] for c in listed.json()["data"]] == [body["id"]]
    assert one.json() == body


def test_another_tenant_cannot_see_a_channel_config(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    created = register(client, settings, tenant).json()
    other = auth(settings, tenant + "-other")
    assert client.get(f"/v1/admin/channels/{created['id']}", headers=other).status_code == 404
    assert client.get("/v1/admin/channels", headers=other).json() == {"data": []}


@pytest.mark.parametrize(
    "overrides",
    [
        {"channel": "telegram"},
        {"secrets": {"access_token": "x"}},
        {"secrets": {**SECRETS, "extra": "x"}},
        {"options": {"azure_tenant": "x"}},
        {"tenant_id": "someone-else"},
    ],
    ids=["unknown-channel", "missing-secret", "unknown-secret", "foreign-option", "tenant-in-body"],
)
def test_invalid_channel_configs_are_refused_and_nothing_is_stored(
    overrides: dict[str, Any],
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    tenant: str,
) -> None:
    response = register(client, settings, tenant, **overrides)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert db["channel_configs"].count_documents({"tenant_id": tenant}) == 0


def test_an_account_belongs_to_one_tenant(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    account = new_id("pn")
    assert register(client, settings, tenant, account_id=account).status_code == 201
    again = register(client, settings, tenant + "-b", account_id=account)
    assert again.status_code == 409


def test_registering_needs_a_token(client: TestClient) -> None:
    response = client.post("/v1/admin/channels", json={"channel": "whatsapp"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "path",
    ["/webhooks/telegram/chc_1", "/webhooks/whatsapp/chc_does_not_exist", "/webhooks/api/chc_1"],
)
def test_webhooks_for_unknown_channels_or_configs_are_404(
    path: str, client: TestClient, broker: redis.Redis
) -> None:
    before = sum(int(broker.llen(q)) for q in ("process",))
    for response in (client.post(path, content=b"{}"), client.get(path)):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    assert sum(int(broker.llen(q)) for q in ("process",)) == before


def test_a_webhook_for_a_config_of_another_channel_is_404(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    created = register(client, settings, tenant).json()
    assert client.post(f"/webhooks/slack/{created['id']}", content=b"{}").status_code == 404
