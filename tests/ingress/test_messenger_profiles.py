"""A Messenger page's profile (Get Started, greeting, persistent menu) saved on its channel and
applied through the Messenger Profile API of a fake Graph, in-process on real MongoDB."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from channel_scenarios import MessengerScenario, WhatsAppScenario
from pymongo.database import Database
from starlette.testclient import TestClient

from core.settings import Settings
from core.tokens import mint_token
from ingress.app import create_app
from tests.fakes.accounts import ProviderAccounts
from tests.fakes.messenger import graph_error

PROFILE: dict[str, Any] = {
    "get_started": {"payload": "GET_STARTED"},
    "greeting": [
        {"locale": "default", "text": "Hello {{user_first_name}}! Ask us anything."},
        {"locale": "fr_FR", "text": "Bonjour ! Posez-nous vos questions."},
    ],
    "persistent_menu": [
        {
            "locale": "default",
            "composer_input_disabled": False,
            "call_to_actions": [
                {"type": "postback", "title": "Opening hours", "payload": "OPENING_HOURS"},
                {"type": "web_url", "title": "Shop now", "url": "https://shop.example.com/"},
            ],
        }
    ],
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


def connect(
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts, **extra: Any
) -> tuple[MessengerScenario, Any]:
    scenario = MessengerScenario(page_token="FAKE_PAGE_TOKEN_" + secrets.token_hex(8))  # one page's
    body = {**providers.own(scenario.registration()), **extra}
    return scenario, client.post("/v1/admin/channels", headers=auth(settings, tenant), json=body)


def profile_calls(providers: ProviderAccounts, page_token: str) -> list[tuple[str, Any]]:
    return [
        (r.method, r.json())
        for r in providers.messenger.requests_to("/me/messenger_profile")
        if r.headers.get("authorization") == f"Bearer {page_token}"
    ]


def test_a_messenger_channel_created_with_a_profile_applies_it_to_its_page(
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts
) -> None:
    scenario, created = connect(client, settings, tenant, providers, messenger_profile=PROFILE)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["messenger_profile"] == PROFILE
    assert body["profile"]["state"] == "applied"
    assert "error" not in body["profile"]
    # Everything set at once; nothing to clear on a new page.
    assert profile_calls(providers, scenario.page_token) == [("POST", PROFILE)]
    assert providers.messenger.profiles[scenario.account_id] == PROFILE
    for secret in scenario.secret_values():
        assert secret not in created.text


def test_saving_a_new_menu_applies_it_and_clears_what_was_dropped(
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts
) -> None:
    scenario, created = connect(client, settings, tenant, providers, messenger_profile=PROFILE)
    config_id = created.json()["id"]
    menu = [
        {
            "locale": "default",
            "composer_input_disabled": True,
            "call_to_actions": [
                {"type": "postback", "title": "Talk to a person", "payload": "HUMAN"}
            ],
        }
    ]
    changed = {"get_started": {"payload": "GET_STARTED"}, "persistent_menu": menu}

    patched = client.patch(
        f"/v1/admin/channels/{config_id}",
        headers=auth(settings, tenant),
        json={"messenger_profile": changed},
    )

    assert patched.status_code == 200, patched.text
    assert (patched.json()["messenger_profile"], patched.json()["profile"]["state"]) == (
        changed,
        "applied",
    )
    assert profile_calls(providers, scenario.page_token)[1:] == [
        ("DELETE", {"fields": ["greeting"]}),
        ("POST", changed),
    ]
    assert providers.messenger.profiles[scenario.account_id] == changed
    shown = client.get(f"/v1/admin/channels/{config_id}", headers=auth(settings, tenant)).json()
    assert shown["messenger_profile"] == changed


def test_a_profile_graph_refuses_is_saved_and_shown_as_failed_never_a_5xx(
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts
) -> None:
    _, created = connect(client, settings, tenant, providers)
    config_id = created.json()["id"]
    assert "profile" not in created.json()
    providers.messenger.fail_next(
        400, graph_error(200, "(#200) Requires pages_messaging permission")
    )

    patched = client.patch(
        f"/v1/admin/channels/{config_id}",
        headers=auth(settings, tenant),
        json={"messenger_profile": PROFILE},
    )

    assert patched.status_code == 200, patched.text
    outcome = patched.json()["profile"]
    assert outcome["state"] == "failed"
    assert "graph error 200" in outcome["error"]
    assert "pages_messaging" in outcome["error"]
    assert patched.json()["messenger_profile"] == PROFILE
    # Saving again retries it.
    again = client.patch(
        f"/v1/admin/channels/{config_id}",
        headers=auth(settings, tenant),
        json={"messenger_profile": PROFILE},
    )
    assert again.json()["profile"]["state"] == "applied"
    assert "error" not in again.json()["profile"]


def test_a_graph_that_fails_is_shown_as_failed(
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts
) -> None:
    _, created = connect(client, settings, tenant, providers)
    providers.messenger.fail_next(
        500, graph_error(2, "An unexpected error has occurred.", is_transient=True)
    )

    patched = client.patch(
        f"/v1/admin/channels/{created.json()['id']}",
        headers=auth(settings, tenant),
        json={"messenger_profile": PROFILE},
    )

    assert (patched.status_code, patched.json()["profile"]["state"]) == (200, "failed")


def with_menu_items(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {**PROFILE, "persistent_menu": [{"locale": "default", "call_to_actions": items}]}


POSTBACK = {"type": "postback", "title": "Hours", "payload": "HOURS"}


@pytest.mark.parametrize(
    ("profile", "says"),
    [
        (with_menu_items([{**POSTBACK, "title": "x" * 31}]), "at most 30 characters"),
        (with_menu_items([POSTBACK] * 21), "at most 20 items"),
        (with_menu_items([]), "at least 1 item"),
        (
            with_menu_items(
                [{"type": "web_url", "title": "Shop", "url": "http://shop.example.com/"}]
            ),
            "https",
        ),
        (
            with_menu_items([{"type": "web_url", "title": "Shop", "url": "javascript:alert(1)"}]),
            "https",
        ),
        (with_menu_items([{"type": "postback", "title": "Hours"}]), "postback item has a payload"),
        (with_menu_items([{**POSTBACK, "type": "nested"}]), "postback"),
        ({**PROFILE, "greeting": [{"locale": "fr_FR", "text": "Bonjour"}]}, "'default'"),
        (
            {**PROFILE, "greeting": [{"locale": "default", "text": "x" * 161}]},
            "at most 160 characters",
        ),
        (
            {
                **PROFILE,
                "greeting": [
                    {"locale": "default", "text": "a"},
                    {"locale": "default", "text": "b"},
                ],
            },
            "once",
        ),
        ({**PROFILE, "get_started": {"payload": "x" * 1001}}, "at most 1000 characters"),
        ({"persistent_menu": PROFILE["persistent_menu"]}, "needs get_started"),
        ({**PROFILE, "ice_breakers": []}, "Extra inputs"),
    ],
    ids=[
        "long-title",
        "21-items",
        "no-items",
        "http-url",
        "javascript-url",
        "postback-without-payload",
        "nested-menu",
        "no-default-locale",
        "long-greeting",
        "locale-twice",
        "long-payload",
        "menu-without-get-started",
        "unknown-property",
    ],
)
def test_a_profile_outside_metas_limits_is_refused_with_a_clear_422_and_nothing_is_called(
    profile: dict[str, Any],
    says: str,
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    tenant: str,
    providers: ProviderAccounts,
) -> None:
    scenario, created = connect(client, settings, tenant, providers, messenger_profile=profile)
    assert created.status_code == 422
    assert created.headers["content-type"] == "application/problem+json"
    assert says in created.text
    assert db["channel_configs"].count_documents({"tenant_id": tenant}) == 0
    kept_scenario, kept = connect(client, settings, tenant, providers)
    patched = client.patch(
        f"/v1/admin/channels/{kept.json()['id']}",
        headers=auth(settings, tenant),
        json={"messenger_profile": profile},
    )
    assert patched.status_code == 422
    assert says in patched.text
    assert "messenger_profile" not in db["channel_configs"].find_one({"_id": kept.json()["id"]})
    assert profile_calls(providers, scenario.page_token) == []
    assert profile_calls(providers, kept_scenario.page_token) == []


def test_only_a_messenger_channel_has_a_messenger_profile(
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts
) -> None:
    scenario = WhatsAppScenario()
    body = {**providers.own(scenario.registration()), "messenger_profile": PROFILE}
    refused = client.post("/v1/admin/channels", headers=auth(settings, tenant), json=body)
    assert refused.status_code == 422
    assert "only a messenger channel" in refused.text
    created = client.post(
        "/v1/admin/channels", headers=auth(settings, tenant), json=scenario.registration()
    )
    patched = client.patch(
        f"/v1/admin/channels/{created.json()['id']}",
        headers=auth(settings, tenant),
        json={"messenger_profile": PROFILE},
    )
    assert (patched.status_code, patched.headers["content-type"]) == (
        422,
        "application/problem+json",
    )
    assert "only a messenger channel" in patched.text


def test_another_tenants_channel_cannot_be_changed(
    client: TestClient, settings: Settings, tenant: str, providers: ProviderAccounts
) -> None:
    _, created = connect(client, settings, tenant, providers)
    other = auth(settings, tenant + "-other")
    patched = client.patch(
        f"/v1/admin/channels/{created.json()['id']}",
        headers=other,
        json={"messenger_profile": PROFILE},
    )
    assert patched.status_code == 404
