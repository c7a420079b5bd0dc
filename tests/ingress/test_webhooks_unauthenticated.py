"""Webhooks fed odd unauthenticated input, in-process against real MongoDB and Redis: every one
is a 401 problem+json that stores and enqueues nothing, never a 500."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from channel_scenarios import MessengerScenario, SlackScenario, WhatsAppScenario
from pymongo.database import Database
from starlette.testclient import TestClient

from core.crypto import SecretBox
from core.settings import Settings
from ingress.app import create_app
from storage.channel_configs import ChannelConfigRepository
from tests.fakes.teams import FakeTeams, message_activity

Scenario = WhatsAppScenario | MessengerScenario | SlackScenario


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def connect(
    db: Database[Any], settings: Settings, tenant: str, registration: dict[str, Any]
) -> str:
    """Stores a channel config straight in the repository; its webhook path."""
    configs = ChannelConfigRepository(db, SecretBox(settings.require_master_key()))
    doc = configs.create(
        tenant,
        registration["channel"],
        registration["account_id"],
        registration["secrets"],
        registration.get("options", {}),
    )
    return f"/webhooks/{registration['channel']}/{doc['_id']}"


def assert_refused_leaving_nothing(
    response: Any, db: Database[Any], broker: redis.Redis, tenant: str, queued: int
) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/unauthorized")
    assert db["messages"].count_documents({"tenant_id": tenant}) == 0
    assert db["conversations"].count_documents({"tenant_id": tenant}) == 0
    assert int(broker.llen("process")) == queued


@pytest.mark.parametrize("scenario", [WhatsAppScenario, MessengerScenario], ids=lambda s: s.channel)
def test_a_non_ascii_hub_signature_is_401(
    scenario: type[WhatsAppScenario | MessengerScenario],
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    broker: redis.Redis,
    tenant: str,
) -> None:
    account = scenario()
    path = connect(db, settings, tenant, account.registration())
    raw, headers = account.inbound_text("hi")
    queued = int(broker.llen("process"))
    forged = {
        **{k: v for k, v in headers.items() if "signature" not in k.lower()},
        "X-Hub-Signature-256": ("sha256=" + "é" * 64).encode("latin-1"),
    }
    for _ in range(2):  # the same kept-alive connection answers the next request too
        response = client.post(path, content=raw, headers=forged)
        assert_refused_leaving_nothing(response, db, broker, tenant, queued)


def test_a_slack_timestamp_of_thousands_of_digits_is_401(
    client: TestClient, settings: Settings, db: Database[Any], broker: redis.Redis, tenant: str
) -> None:
    account = SlackScenario()
    path = connect(db, settings, tenant, account.registration())
    raw, headers = account.inbound_text("hi")
    queued = int(broker.llen("process"))
    huge = {**headers, "X-Slack-Request-Timestamp": "9" * 5000}
    response = client.post(path, content=raw, headers=huge)
    assert_refused_leaving_nothing(response, db, broker, tenant, queued)


@pytest.fixture(scope="module")
def teams() -> Iterator[FakeTeams]:
    with FakeTeams() as fake:
        yield fake


@pytest.fixture(scope="module")
def teams_client(teams: FakeTeams, db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    app = create_app(Settings(teams_openid_metadata_url=teams.openid_metadata_url))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_teams_body_nested_a_thousand_deep_is_401(
    teams: FakeTeams,
    teams_client: TestClient,
    settings: Settings,
    db: Database[Any],
    broker: redis.Redis,
    tenant: str,
) -> None:
    app_id = str(uuid.uuid4())
    teams.add_app(app_id, "FAKE-password")
    path = connect(
        db,
        settings,
        tenant,
        {"channel": "teams", "account_id": app_id, "secrets": {"app_password": "FAKE-password"}},
    )
    activity = message_activity(app_id, "hi", "a:conversation", "1", teams.service_url)
    deep = json.dumps(activity)[:-1].encode() + b', "x": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    queued = int(broker.llen("process"))
    for token in ("forged", teams.mint_token(app_id, teams.service_url)):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        response = teams_client.post(path, content=deep, headers=headers)
        assert_refused_leaving_nothing(response, db, broker, tenant, queued)
