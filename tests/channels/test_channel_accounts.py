"""A provider account is bound only once its credentials prove it: the provider fakes are asked
at connect time (Graph, Slack ``auth.test``, the Bot Framework token endpoint), account ids have
their channel's shape, and every refusal stores nothing — through the API, the operator's route
and ``parley channels add``."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from channels.accounts import AccountNotProven, prove_account
from channels.runtime import ChannelRuntime, ProviderUrls
from channels.whatsapp import WHATSAPP
from core.envelopes import ChannelConfig, Outbound
from core.settings import Settings
from ingress.app import create_app
from tests.credentials import admin_headers, client_address, create_tenant, tenant_headers
from tests.fakes.accounts import ProviderAccounts
from tests.fakes.whatsapp import FakeWhatsApp

ROOT = Path(__file__).resolve().parents[2]
Registration = dict[str, Any]


def _digits(first: str, n: int) -> str:
    return first + "".join(secrets.choice("0123456789") for _ in range(n))


def whatsapp(token: str | None = None) -> Registration:
    return {
        "channel": "whatsapp",
        "account_id": _digits("2", 14),
        "secrets": {
            "access_token": token or "FAKE-wa-token-" + secrets.token_hex(8),
            "app_secret": "FAKE-wa-app-secret",
            "verify_token": "FAKE-wa-verify",
        },
    }


def messenger(token: str | None = None) -> Registration:
    return {
        "channel": "messenger",
        "account_id": _digits("1", 14),
        "secrets": {
            "page_token": token or "FAKE-fb-page-token-" + secrets.token_hex(8),
            "app_secret": "FAKE-fb-app-secret",
            "verify_token": "FAKE-fb-verify",
        },
    }


def slack(token: str | None = None) -> Registration:
    return {
        "channel": "slack",
        "account_id": "T0FAKE" + secrets.token_hex(4).upper(),
        "secrets": {
            "bot_token": token or "xoxb-FAKE-" + secrets.token_hex(8),
            "signing_secret": "FAKE-slack-signing",
        },
    }


def teams(token: str | None = None) -> Registration:
    return {
        "channel": "teams",
        "account_id": str(uuid.uuid4()),
        "secrets": {"app_password": token or "FAKE~teams~" + secrets.token_hex(8)},
    }


REGISTRATIONS: dict[str, Callable[..., Registration]] = {
    "whatsapp": whatsapp,
    "messenger": messenger,
    "slack": slack,
    "teams": teams,
}
CHECKS = {
    "whatsapp": "graph-phone-number",
    "messenger": "graph-page-token",
    "slack": "slack-auth-test",
    "teams": "bot-framework-token",
}
PROOF_SECRET = {
    "whatsapp": "access_token",
    "messenger": "page_token",
    "slack": "bot_token",
    "teams": "app_password",
}


@pytest.fixture(scope="module")
def client(
    db: Database[Any], broker: redis.Redis, providers: ProviderAccounts, settings: Settings
) -> Iterator[TestClient]:
    app = create_app(providers.settings(settings))
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as test_client:
        yield test_client


def connect(client: TestClient, settings: Settings, tenant: str, body: Registration) -> Any:
    return client.post("/v1/admin/channels", headers=tenant_headers(settings, tenant), json=body)


def stored(db: Database[Any], body: Registration) -> int:
    query = {"channel": body["channel"], "account_id": body["account_id"]}
    return db["channel_configs"].count_documents(query)


def assert_refused(response: Any, status: int, slug: str, check: str, body: Registration) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == f"https://parley.dev/problems/{slug}"
    assert problem["status"] == status
    assert problem["check"] == check
    for value in body["secrets"].values():
        assert value not in response.text


@pytest.mark.parametrize("channel", sorted(REGISTRATIONS))
def test_a_squatter_with_another_tenants_account_id_but_not_its_token_is_refused(
    channel: str,
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    providers: ProviderAccounts,
) -> None:
    victim = providers.own(REGISTRATIONS[channel]())
    # The squatter's token is a real one, for the squatter's own account.
    own = providers.own(REGISTRATIONS[channel]())
    squatter = {**own, "account_id": victim["account_id"]}
    for attempt in ("before the owner", "after the owner"):
        refused = connect(client, settings, "t-squatter-" + secrets.token_hex(3), squatter)
        assert_refused(refused, 422, "account-not-proven", CHECKS[channel], squatter)
        assert "nothing was stored" in refused.json()["detail"], attempt
        assert db["channel_configs"].count_documents({"account_id": victim["account_id"]}) == (
            0 if attempt == "before the owner" else 1
        )
        if attempt == "before the owner":
            owner = "t-owner-" + secrets.token_hex(3)
            created = connect(client, settings, owner, victim)
            assert created.status_code == 201, created.text
    (doc,) = db["channel_configs"].find({"account_id": victim["account_id"]})
    assert doc["tenant_id"] == owner


def test_each_channel_asks_its_provider_with_the_configs_own_credentials(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    providers: ProviderAccounts,
    tenant: str,
) -> None:
    bodies = {channel: providers.own(make()) for channel, make in REGISTRATIONS.items()}
    marks = {
        "whatsapp": len(providers.whatsapp.requests),
        "messenger": len(providers.messenger.requests),
        "slack": len(providers.slack.requests),
        "teams": len(providers.teams.requests),
    }
    for body in bodies.values():
        created = connect(client, settings, tenant, body)
        assert created.status_code == 201, created.text
        assert created.json()["account_id"] == body["account_id"]
        assert stored(db, body) == 1

    (number,) = providers.whatsapp.requests[marks["whatsapp"] :]
    wa = bodies["whatsapp"]
    assert (number.method, number.path) == ("GET", f"/{wa['account_id']}")
    assert number.query == {"fields": "id"}
    assert number.headers["authorization"] == f"Bearer {wa['secrets']['access_token']}"

    (me,) = providers.messenger.requests[marks["messenger"] :]
    assert (me.method, me.path, me.query) == ("GET", "/me", {"fields": "id"})
    assert me.headers["authorization"] == f"Bearer {bodies['messenger']['secrets']['page_token']}"

    (auth_test,) = providers.slack.requests[marks["slack"] :]
    assert (auth_test.method, auth_test.path) == ("POST", "/auth.test")
    assert auth_test.headers["authorization"] == f"Bearer {bodies['slack']['secrets']['bot_token']}"

    (token,) = providers.teams.requests[marks["teams"] :]
    assert (token.method, token.path) == ("POST", "/botframework.com/oauth2/v2.0/token")
    assert token.form() == {
        "grant_type": "client_credentials",
        "client_id": bodies["teams"]["account_id"],
        "client_secret": bodies["teams"]["secrets"]["app_password"],
        "scope": "https://api.botframework.com/.default",
    }


@pytest.mark.parametrize("channel", ["whatsapp", "messenger", "slack"])
def test_credentials_the_provider_answers_for_another_account_are_refused(
    channel: str,
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    providers: ProviderAccounts,
    tenant: str,
) -> None:
    body = providers.own(REGISTRATIONS[channel]())
    other = {"whatsapp": "200000000000999", "messenger": "100000000000999", "slack": "T0OTHER"}
    {
        "whatsapp": providers.whatsapp.answer_number_as,
        "messenger": providers.messenger.answer_page_as,
        "slack": providers.slack.answer_team_as,
    }[channel](other[channel])
    refused = connect(client, settings, tenant, body)
    assert_refused(refused, 422, "account-not-proven", CHECKS[channel], body)
    assert stored(db, body) == 0


@pytest.mark.parametrize("channel", sorted(REGISTRATIONS))
def test_credentials_the_provider_does_not_know_are_refused(
    channel: str, client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    body = REGISTRATIONS[channel]()  # nobody told the provider fake about this account
    refused = connect(client, settings, tenant, body)
    assert_refused(refused, 422, "account-not-proven", CHECKS[channel], body)
    assert stored(db, body) == 0


@pytest.mark.parametrize(
    ("channel", "account_id"),
    [
        ("whatsapp", "pn_123"),
        ("whatsapp", "+15550100001"),
        ("whatsapp", "1" * 33),
        ("whatsapp", "../me"),
        ("whatsapp", "123?fields=access_token"),
        ("whatsapp", "١٢٣"),  # digits, but not ASCII ones
        ("messenger", "me"),
        ("messenger", "12 34"),
        ("slack", "t0fake"),
        ("slack", "T0fake"),
        ("slack", "U0FAKE01"),
        ("slack", "T"),
        ("slack", "T" + "A" * 32),
        ("teams", "not-a-guid"),
        ("teams", "{0fa4e000-0000-4000-8000-000000000001}"),
        ("teams", "0fa4e000-0000-4000-8000-00000000000g"),
    ],
)
def test_account_ids_of_the_wrong_shape_are_a_field_error_and_ask_no_provider(
    channel: str,
    account_id: str,
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    providers: ProviderAccounts,
    tenant: str,
) -> None:
    body = {**providers.own(REGISTRATIONS[channel]()), "account_id": account_id}
    fakes = (providers.whatsapp, providers.messenger, providers.slack, providers.teams)
    asked = sum(len(fake.requests) for fake in fakes)
    refused = connect(client, settings, tenant, body)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "https://parley.dev/problems/validation-error"
    assert [e["field"] for e in problem["errors"]] == ["account_id"]
    assert channel in problem["errors"][0]["message"]
    assert db["channel_configs"].count_documents({"tenant_id": tenant}) == 0
    assert sum(len(fake.requests) for fake in fakes) == asked


def test_a_teams_app_id_is_stored_lower_case(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    providers: ProviderAccounts,
    tenant: str,
) -> None:
    body = providers.own(teams())
    created = connect(client, settings, tenant, {**body, "account_id": body["account_id"].upper()})
    assert created.status_code == 201, created.text
    assert created.json()["account_id"] == body["account_id"]
    assert stored(db, body) == 1


@pytest.mark.parametrize("failure", ["whatsapp-500", "messenger-503", "slack-429", "teams-502"])
def test_a_failing_provider_is_502_and_nothing_is_stored(
    failure: str,
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    providers: ProviderAccounts,
    tenant: str,
) -> None:
    channel = failure.split("-")[0]
    body = providers.own(REGISTRATIONS[channel]())
    if failure == "whatsapp-500":
        providers.whatsapp.fail_with_server_error()
    elif failure == "messenger-503":
        providers.messenger.fail_with_server_error(503)
    elif failure == "slack-429":
        providers.slack.fail_with_rate_limit(retry_after=3)
    else:
        providers.teams.fail_token(502, "temporarily_unavailable")
    refused = connect(client, settings, tenant, body)
    assert_refused(refused, 502, "provider-unavailable", CHECKS[channel], body)
    assert stored(db, body) == 0
    again = connect(client, settings, tenant, body)  # the provider is back: it proves it
    assert again.status_code == 201, again.text


def test_an_unreachable_or_silent_provider_is_502_and_nothing_is_stored(
    settings: Settings, db: Database[Any], providers: ProviderAccounts, tenant: str
) -> None:
    unreachable = {**providers.urls, "whatsapp_api_base": "http://127.0.0.1:9"}
    app = create_app(settings.model_copy(update={**unreachable, "channel_send_timeout_seconds": 1}))
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as client:
        body = providers.own(whatsapp())
        refused = connect(client, settings, tenant, body)
        assert_refused(refused, 502, "provider-unavailable", CHECKS["whatsapp"], body)
        assert stored(db, body) == 0
        silent = providers.own(messenger())
        providers.messenger.hang_next()
        refused = connect(client, settings, tenant, silent)
        assert_refused(refused, 502, "provider-unavailable", CHECKS["messenger"], silent)
        assert stored(db, silent) == 0


def test_the_operators_route_proves_the_account_too(
    client: TestClient, settings: Settings, db: Database[Any], providers: ProviderAccounts
) -> None:
    tenant = create_tenant(client, settings)
    path = f"/v1/admin/tenants/{tenant}/channels"
    squatted = {**slack(), "account_id": providers.own(slack())["account_id"]}
    refused = client.post(path, headers=admin_headers(settings), json=squatted)
    assert_refused(refused, 422, "account-not-proven", CHECKS["slack"], squatted)
    assert stored(db, squatted) == 0
    proven = providers.own(slack())
    created = client.post(path, headers=admin_headers(settings), json=proven)
    assert created.status_code == 201, created.text
    doc = db["channel_configs"].find_one({"_id": created.json()["id"]})
    assert doc is not None and doc["tenant_id"] == tenant
    bad_id = client.post(path, headers=admin_headers(settings), json={**proven, "account_id": "x"})
    assert bad_id.status_code == 422
    assert [e["field"] for e in bad_id.json()["errors"]] == ["account_id"]


def _cli(providers: ProviderAccounts, body: Registration, tenant: str) -> Any:
    secrets_args = [
        arg for name, value in body["secrets"].items() for arg in ("--secret", f"{name}={value}")
    ]
    return subprocess.run(
        [
            *(sys.executable, "-m", "cli", "channels", "add", body["channel"]),
            *("--tenant", tenant, "--account-id", body["account_id"], *secrets_args),
        ],
        cwd=ROOT,
        env={**os.environ, **providers.env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_parley_channels_add_proves_the_account_before_storing_it(
    db: Database[Any], providers: ProviderAccounts, tenant: str
) -> None:
    squatter = {**whatsapp(), "account_id": providers.own(whatsapp())["account_id"]}
    refused = _cli(providers, squatter, tenant)
    assert refused.returncode == 2, refused.stderr
    assert "account not proven (graph-phone-number)" in refused.stderr
    assert stored(db, squatter) == 0
    assert squatter["secrets"]["access_token"] not in refused.stderr + refused.stdout

    body = providers.own(whatsapp())
    added = _cli(providers, body, tenant)
    assert added.returncode == 0, added.stderr
    assert "whatsapp account proven (graph-phone-number)" in added.stderr
    assert json.loads(added.stdout)["account_id"] == body["account_id"]
    assert stored(db, body) == 1
    assert body["secrets"]["access_token"] not in added.stderr + added.stdout


def test_an_account_id_in_a_graph_url_is_one_percent_encoded_segment() -> None:
    odd = "1/../../me?x=1#y"  # stored before ids were checked: it must stay one path segment
    with (
        FakeWhatsApp() as fake,
        closing(ChannelRuntime.create(ProviderUrls(whatsapp_api=fake.base_url))) as runtime,
    ):
        fake.add_number(odd)
        assert prove_account("whatsapp", odd, {"access_token": fake.access_token}, {}, runtime)
        config = ChannelConfig(
            id="chc_x",
            tenant_id="t",
            channel="whatsapp",
            account_id=odd,
            secrets={"access_token": fake.access_token},
        )
        outbound = Outbound(
            "t", "msg_1", "conv_1", "15550100099", "hi", [{"type": "text", "text": "hi"}]
        )
        WHATSAPP.send(outbound, config, runtime)
        lookup, send = fake.requests
        assert lookup.path == "/1%2F..%2F..%2Fme%3Fx%3D1%23y"
        assert send.path == "/1%2F..%2F..%2Fme%3Fx%3D1%23y/messages"
        assert fake.sent[0].phone_number_id == odd
        fake.add_number(odd, "FAKE-someone-else")
        with pytest.raises(AccountNotProven):
            prove_account("whatsapp", odd, {"access_token": fake.access_token}, {}, runtime)
