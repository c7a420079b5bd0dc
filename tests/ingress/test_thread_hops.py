"""An accepted message costs the event loop two trips to the thread pool, not more: one to
admit the request (the guard, or resolving a webhook's config), one to accept it. Counted, not
timed: each trip wakes a pool thread and the loop again, a fair share of a request's CPU
(bench/HISTORY.md, "What the ingress spends")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio.to_thread
import pytest
import redis
from channel_scenarios import WhatsAppScenario
from pymongo.database import Database
from starlette.testclient import TestClient

from core.crypto import SecretBox
from core.settings import Settings
from ingress.app import create_app
from storage.channel_configs import ChannelConfigRepository
from tests.credentials import tenant_headers


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions handed to the thread pool from now on, by name."""
    handed: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        handed.append(getattr(function, "__name__", repr(function)))
        return await run_sync(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return handed


def test_an_api_message_is_admitted_and_accepted_in_two_trips_to_the_pool(
    client: TestClient, settings: Settings, tenant: str, hops: list[str]
) -> None:
    answer = client.post(
        "/v1/messages",
        headers=tenant_headers(settings, tenant),
        json={"user_id": "ana", "text": "hi"},
    )
    assert answer.status_code == 202, answer.text
    assert len(hops) == 2, hops


def test_a_webhook_message_is_resolved_and_accepted_in_two_trips_to_the_pool(
    client: TestClient, settings: Settings, db: Database[Any], tenant: str, hops: list[str]
) -> None:
    scenario = WhatsAppScenario()
    registration = scenario.registration()
    config = ChannelConfigRepository(db, SecretBox(settings.require_master_key())).create(
        tenant, registration["channel"], registration["account_id"], registration["secrets"], {}
    )
    raw, headers = scenario.inbound_text("hello")
    answer = client.post(f"/webhooks/whatsapp/{config['_id']}", content=raw, headers=headers)
    assert answer.status_code == 200, answer.text
    assert db["messages"].count_documents({"tenant_id": tenant}) == 1
    assert len(hops) == 2, hops
