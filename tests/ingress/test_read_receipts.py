"""Teams read receipts through the ingress, on real MongoDB: a receipt moves only the replies its
own config sent to its own user, though Teams activity ids repeat across conversations."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.crypto import SecretBox
from core.settings import Settings
from core.timeutil import utcnow
from ingress.app import create_app
from storage.channel_configs import ChannelConfigRepository
from tests.fakes.teams import USER_ID, FakeTeams, read_receipt

ACTIVITY_ID = "1750000000120"  # Teams ids are per conversation: the same in two chats
OTHER_USER = "29:1FAKEanotherUser0123456789"


@pytest.fixture(scope="module")
def teams() -> Iterator[FakeTeams]:
    with FakeTeams() as fake:
        yield fake


@pytest.fixture(scope="module")
def client(teams: FakeTeams, db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    app = create_app(Settings(teams_openid_metadata_url=teams.openid_metadata_url))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def connect_bot(teams: FakeTeams, db: Database[Any], settings: Settings, tenant: str) -> str:
    app_id = str(uuid.uuid4())
    teams.add_app(app_id, "FAKE-password")
    configs = ChannelConfigRepository(db, SecretBox(settings.require_master_key()))
    doc = configs.create(tenant, "teams", app_id, {"app_password": "FAKE-password"}, {})
    return str(doc["_id"])


def delivered_reply(db: Database[Any], tenant: str, config_id: str, user_id: str) -> str:
    """A reply the deliver stage sent and Teams accepted, as stored."""
    message_id = "msg_" + secrets.token_hex(8) + ".r"
    now = utcnow()
    db["messages"].insert_one(
        {
            "_id": message_id,
            "tenant_id": tenant,
            "conversation_id": "conv_" + secrets.token_hex(6),
            "direction": "outbound",
            "channel": "teams",
            "channel_config_id": config_id,
            "user_id": user_id,
            "status": "delivered",
            "provider_message_ids": [ACTIVITY_ID],
            "journey": {"sent": now, "delivered": now},
            "created_at": now,
            "updated_at": now,
        }
    )
    return message_id


def test_a_read_receipt_moves_only_its_users_reply_through_its_config(
    teams: FakeTeams, client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    config, other_config = (connect_bot(teams, db, settings, tenant) for _ in range(2))
    read = delivered_reply(db, tenant, config, USER_ID)
    other_user = delivered_reply(db, tenant, config, OTHER_USER)
    other_bot = delivered_reply(db, tenant, other_config, USER_ID)
    app_id = db["channel_configs"].find_one({"_id": config})["account_id"]

    receipt = read_receipt(app_id, ACTIVITY_ID, "a:personal-chat", teams.service_url)
    body, headers = teams.signed_webhook(receipt)
    response = client.post(f"/webhooks/teams/{config}", content=body, headers=headers)

    assert response.status_code == 200, response.text
    status = {doc["_id"]: doc["status"] for doc in db["messages"].find({"tenant_id": tenant})}
    assert status == {read: "read", other_user: "delivered", other_bot: "delivered"}
