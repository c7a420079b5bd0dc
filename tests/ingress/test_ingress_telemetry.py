"""The ingress tells its authentications (``integration.auth``) and the provider webhooks it
verified (``integration.webhook.received``), never a credential or a body."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from channel_scenarios import WhatsAppScenario
from pymongo.database import Database
from starlette.testclient import TestClient

from core.crypto import SecretBox
from core.settings import Settings
from ingress.app import create_app
from storage.channel_configs import ChannelConfigRepository
from storage.telemetry import QUEUE
from tests.credentials import tenant_headers


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(tenant_cache_seconds=0))) as test_client:
        yield test_client


def _told(
    rdb: redis.Redis, wanted: Callable[[dict[str, Any]], bool], count: int
) -> list[dict[str, Any]]:
    """The queued events ``wanted`` picks, once ``count`` are there (the ingress queues its
    telemetry once a second)."""
    deadline = time.monotonic() + 15
    while True:
        found = [e for e in map(json.loads, rdb.lrange(QUEUE, 0, -1)) if wanted(e)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_authentications_are_told_by_kind_and_outcome_without_the_credential(
    client: TestClient, settings: Settings, redis_client: redis.Redis, tenant: str
) -> None:
    route = f"/v1/conversations/conv_{uuid.uuid4().hex[:12]}"
    ok = client.get(route, headers=tenant_headers(settings, tenant))
    assert ok.status_code == 404  # authenticated; the conversation does not exist
    secret = f"pk_live_{uuid.uuid4().hex}"
    refused = client.get(route, headers={"authorization": f"Bearer {secret}"})
    assert refused.status_code == 401

    told = _told(
        redis_client, lambda e: e["type"] == "integration.auth" and e["data"]["route"] == route, 2
    )
    assert [(e["tenantid"], e["data"]["credential"], e["data"]["outcome"]) for e in told] == [
        (tenant, "token", "success"),
        ("*", "api_key", "failure"),
    ]
    assert told[1]["data"]["reason"]
    assert secret not in json.dumps(told)


def test_a_verified_provider_webhook_is_told_without_its_body(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    redis_client: redis.Redis,
    tenant: str,
) -> None:
    scenario = WhatsAppScenario()
    # Stored as the admin API stores it (which would first ask the real Graph API about it).
    registration = scenario.registration()
    config = ChannelConfigRepository(db, SecretBox(settings.require_master_key())).create(
        tenant, registration["channel"], registration["account_id"], registration["secrets"], {}
    )
    raw, headers = scenario.status("wamid.unknown", "delivered")
    answer = client.post(f"/webhooks/whatsapp/{config['_id']}", content=raw, headers=headers)
    assert answer.status_code == 200, answer.text
    forged = client.post(
        f"/webhooks/whatsapp/{config['_id']}",
        content=raw,
        headers={**headers, "x-hub-signature-256": "sha256=" + "0" * 64},
    )
    assert forged.status_code == 401

    told = _told(
        redis_client,
        lambda e: e["type"] == "integration.webhook.received" and e["tenantid"] == tenant,
        1,
    )
    assert [e["data"] for e in told] == [
        {
            "channel": "whatsapp",
            "channel_config_id": config["_id"],
            "provider_event": "statuses",
            "verified": True,
        }
    ]
    assert "wamid.unknown" not in json.dumps(told)
