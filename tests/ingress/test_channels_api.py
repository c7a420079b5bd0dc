"""Channel configuration API and webhook routing, in-process against real MongoDB and Redis."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from channel_scenarios import MessengerScenario, SlackScenario, WhatsAppScenario
from pymongo.database import Database
from starlette.testclient import TestClient

from core.settings import Settings
from core.tokens import mint_token
from ingress.app import create_app
from tests.fakes import slack as sl
from tests.fakes.accounts import ProviderAccounts

SECRETS = {
    "access_token": "EAAG-FAKE-token",
    "app_secret": "FAKE-app-secret",
    "verify_token": "FAKE-verify",
}


@pytest.fixture(scope="module")
def client(
    db: Database[Any], broker: redis.Redis, providers: ProviderAccounts, settings: Settings
) -> Iterator[TestClient]:
    app = create_app(providers.settings(settings))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def auth(settings: Settings, tenant: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {mint_token(settings.require_jwt_secret(), tenant, 'ops', 600)}"
    }


def register(
    client: TestClient,
    settings: Settings,
    tenant: str,
    providers: ProviderAccounts | None = None,
    **overrides: Any,
) -> Any:
    """Registers a WhatsApp number; ``providers`` given, the fake proves it is the token's."""
    number = "2" + str(secrets.randbelow(10**14)).zfill(14)
    body = {"channel": "whatsapp", "account_id": number, "secrets": SECRETS, **overrides}
    if providers is not None:
        providers.own(body)
    return client.post("/v1/admin/channels", headers=auth(settings, tenant), json=body)


def connect(
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts, body: Any
) -> Any:
    """Registers ``body``'s account, which the provider fake proves."""
    providers.own(body)
    return client.post("/v1/admin/channels", headers=auth(settings, tenant), json=body)


def test_registering_a_channel_answers_its_webhook_url_and_no_secret(
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts
) -> None:
    response = register(client, settings, tenant, providers)
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
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts
) -> None:
    created = register(client, settings, tenant, providers).json()
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
        {"options": {"business_account_id": "waba-12"}},
        {"tenant_id": "someone-else"},
    ],
    ids=[
        "unknown-channel",
        "missing-secret",
        "unknown-secret",
        "foreign-option",
        "malformed-waba",
        "tenant-in-body",
    ],
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
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts
) -> None:
    first = register(client, settings, tenant, providers)
    assert first.status_code == 201
    account = first.json()["account_id"]
    again = register(client, settings, tenant + "-b", providers, account_id=account)
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
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts
) -> None:
    created = register(client, settings, tenant, providers).json()
    assert client.post(f"/webhooks/slack/{created['id']}", content=b"{}").status_code == 404


SCENARIOS = {"whatsapp": WhatsAppScenario, "messenger": MessengerScenario, "slack": SlackScenario}


@pytest.fixture(params=sorted(SCENARIOS))
def connected(
    request: pytest.FixtureRequest,
    client: TestClient,
    settings: Settings,
    tenant: str,
    providers: ProviderAccounts,
) -> tuple[Any, str]:
    """A freshly registered provider account of each kind and its webhook path."""
    scenario = SCENARIOS[request.param]()
    created = connect(client, settings, tenant, providers, scenario.registration())
    assert created.status_code == 201, created.text
    return scenario, f"/webhooks/{scenario.channel}/{created.json()['id']}"


def _forgeries(scenario: Any) -> dict[str, tuple[bytes, dict[str, str]]]:
    raw, headers = scenario.inbound_text("Olá, café? 😀")
    tampered = raw.replace(b"Ol", b"Al", 1)
    unsigned = {k: v for k, v in headers.items() if "signature" not in k.lower()}
    cases = {
        "wrong-secret": (raw, scenario.signed_with(raw, "FAKE-not-the-secret")),
        "tampered-body": (tampered, headers),
        "no-signature": (raw, unsigned),
        "foreign-account": scenario.inbound_text("hi", account=scenario.account_id + "0"),
    }
    if scenario.channel == "slack":
        cases["stale-timestamp"] = scenario.inbound_text("hi", timestamp=int(time.time()) - 600)
    return cases


def test_forged_webhooks_are_401_and_leave_nothing_behind(
    connected: tuple[Any, str],
    client: TestClient,
    db: Database[Any],
    broker: redis.Redis,
    tenant: str,
) -> None:
    scenario, path = connected
    for case, (raw, headers) in _forgeries(scenario).items():
        before = int(broker.llen("process"))
        response = client.post(path, content=raw, headers=headers)
        assert response.status_code == 401, (case, response.text)
        assert response.headers["content-type"] == "application/problem+json", case
        assert db["messages"].count_documents({"tenant_id": tenant}) == 0, case
        assert db["conversations"].count_documents({"tenant_id": tenant}) == 0, case
        assert int(broker.llen("process")) == before, case


def test_a_signed_webhook_with_emoji_and_accents_is_stored_and_enqueued_once(
    connected: tuple[Any, str],
    client: TestClient,
    db: Database[Any],
    broker: redis.Redis,
    tenant: str,
) -> None:
    scenario, path = connected
    raw, headers = scenario.inbound_text("Olá, café à côté? 😀🎉")
    before = int(broker.llen("process"))
    for _ in range(3):  # the provider retries: answered 200 each time, stored once
        response = client.post(path, content=raw, headers=headers)
        assert response.status_code == 200, response.text
    stored = list(db["messages"].find({"tenant_id": tenant}))
    assert len(stored) == 1
    assert stored[0]["text"] == "Olá, café à côté? 😀🎉"
    assert stored[0]["channel"] == scenario.channel
    assert stored[0]["user_id"] == scenario.user
    assert int(broker.llen("process")) == before + 1


def test_a_whatsapp_location_webhook_is_stored_as_a_location_with_its_place(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    broker: redis.Redis,
    tenant: str,
    providers: ProviderAccounts,
) -> None:
    scenario = WhatsAppScenario()
    created = connect(client, settings, tenant, providers, scenario.registration())
    assert created.status_code == 201, created.text
    place = {"name": "Example Coffee", "address": "1 Example Way, Springfield"}
    raw, headers = scenario.inbound_location(48.8566, 2.3522, place)
    before = int(broker.llen("process"))
    response = client.post(
        f"/webhooks/whatsapp/{created.json()['id']}", content=raw, headers=headers
    )
    assert response.status_code == 200, response.text
    [stored] = db["messages"].find({"tenant_id": tenant})
    assert (stored["kind"], stored["text"]) == ("location", "Example Coffee")
    assert stored["content"] == {"latitude": 48.8566, "longitude": 2.3522, **place}
    assert int(broker.llen("process")) == before + 1


def test_meta_handshakes_echo_the_challenge_only_for_the_right_token(
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts
) -> None:
    for scenario in (WhatsAppScenario(), MessengerScenario()):
        created = connect(client, settings, tenant, providers, scenario.registration()).json()
        path = f"/webhooks/{scenario.channel}/{created['id']}"
        query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
        good = client.get(path, params={**query, "hub.verify_token": scenario.verify_token})
        assert good.status_code == 200
        assert good.text == "1158201444"
        bad = client.get(path, params={**query, "hub.verify_token": "FAKE-wrong"})
        assert bad.status_code == 401


def test_slack_url_verification_answers_the_challenge(
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts
) -> None:
    scenario = SlackScenario()
    created = connect(client, settings, tenant, providers, scenario.registration()).json()
    raw, headers = sl.signed_webhook(
        sl.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"),
        scenario.signing_secret,
    )
    response = client.post(f"/webhooks/slack/{created['id']}", content=raw, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
