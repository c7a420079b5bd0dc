"""Meta's webhook handshake through the ingress, on real MongoDB and Redis: the challenge is
echoed only as a short token with ``nosniff``, and verify tokens cannot be guessed without
limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from channel_scenarios import MessengerScenario, WhatsAppScenario
from pymongo.database import Database
from starlette.testclient import TestClient

from core.crypto import SecretBox
from core.settings import Settings
from ingress.app import create_app
from storage.channel_configs import ChannelConfigRepository

BURST = 3
MetaScenario = WhatsAppScenario | MessengerScenario


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    # Refilled so slowly that no allowance comes back during a test.
    app = create_app(Settings(handshake_failure_burst=BURST, handshake_failure_per_second=0.001))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def connect(db: Database[Any], settings: Settings, tenant: str, account: MetaScenario) -> str:
    registration = account.registration()
    configs = ChannelConfigRepository(db, SecretBox(settings.require_master_key()))
    doc = configs.create(tenant, account.channel, account.account_id, registration["secrets"], {})
    return f"/webhooks/{account.channel}/{doc['_id']}"


def handshake(verify_token: str, challenge: str = "1158201444") -> dict[str, str]:
    return {"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": challenge}


@pytest.mark.parametrize("scenario", [WhatsAppScenario, MessengerScenario], ids=lambda s: s.channel)
def test_the_challenge_is_echoed_as_plain_text_that_is_never_sniffed(
    scenario: type[MetaScenario],
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    tenant: str,
) -> None:
    account = scenario()
    response = client.get(
        connect(db, settings, tenant, account), params=handshake(account.verify_token)
    )
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "challenge",
    ["<script>alert(1)</script>", "a b", "x" * 129, "1158201444\r\nSet-Cookie: a=b", "é"],
)
def test_a_challenge_that_is_not_a_short_token_is_400_and_not_echoed(
    challenge: str, client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    account = WhatsAppScenario()
    path = connect(db, settings, tenant, account)
    response = client.get(path, params=handshake(account.verify_token, challenge))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/invalid-challenge")
    assert challenge not in response.text


def test_verify_tokens_cannot_be_guessed_without_limit(
    client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    guessed, bystander = WhatsAppScenario(), WhatsAppScenario()
    path, other_path = (connect(db, settings, tenant, a) for a in (guessed, bystander))
    statuses = [
        client.get(path, params=handshake(f"FAKE-guess-{i}")).status_code for i in range(BURST + 2)
    ]
    assert statuses == [401] * BURST + [429] * 2
    # Past the limit the right token is refused too: a hit must look like a miss.
    refused = client.get(path, params=handshake(guessed.verify_token))
    assert refused.status_code == 429
    assert refused.json()["limit"] == "handshake-failures"
    assert int(refused.headers["retry-after"]) >= 1
    assert "1158201444" not in refused.text
    # Another config's handshake is not affected.
    assert client.get(other_path, params=handshake(bystander.verify_token)).status_code == 200
