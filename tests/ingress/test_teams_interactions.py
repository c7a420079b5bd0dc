"""Teams card actions, installs and meetings through the ingress, on real MongoDB and Redis: an
``Action.Execute`` is answered in the webhook's own response with the refreshed card and stored
as the next turn; installs and removals move the channel's ``installation``; members and
meetings are told as integration events."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.crypto import SecretBox
from core.settings import Settings
from core.tokens import mint_token
from ingress.app import create_app
from storage.channel_configs import ChannelConfigRepository
from storage.telemetry import QUEUE
from tests.fakes.teams import (
    FakeTeams,
    card_execute,
    conversation_update,
    installation_update,
    meeting_event,
)

CONVERSATION = "a:1FAKEpersonalConversationInteractions0123456789"
CARD = {
    "type": "AdaptiveCard",
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "version": "1.5",
    "body": [{"type": "TextBlock", "text": "✓ Opening hours", "wrap": True}],
}


@pytest.fixture(scope="module")
def teams() -> Iterator[FakeTeams]:
    with FakeTeams() as fake:
        yield fake


@pytest.fixture(scope="module")
def client(teams: FakeTeams, db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    app = create_app(Settings(teams_openid_metadata_url=teams.openid_metadata_url))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def connect_bot(
    teams: FakeTeams, db: Database[Any], settings: Settings, tenant: str
) -> tuple[str, str]:
    """A Teams bot connected for ``tenant``: (config id, app id)."""
    app_id = str(uuid.uuid4())
    teams.add_app(app_id, "FAKE-password")
    configs = ChannelConfigRepository(db, SecretBox(settings.require_master_key()))
    doc = configs.create(tenant, "teams", app_id, {"app_password": "FAKE-password"}, {})
    return str(doc["_id"]), app_id


def deliver(client: TestClient, teams: FakeTeams, config_id: str, activity: dict[str, Any]) -> Any:
    body, headers = teams.signed_webhook(activity)
    return client.post(f"/webhooks/teams/{config_id}", content=body, headers=headers)


def admin(settings: Settings, tenant: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {mint_token(settings.require_jwt_secret(), tenant, 'ops', 600)}"
    }


def test_an_action_execute_is_answered_with_the_refreshed_card_and_stored_as_one_turn(
    teams: FakeTeams, client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    config_id, app_id = connect_bot(teams, db, settings, tenant)
    data = {"id": "OPENING_HOURS", "title": "Opening hours"}
    invoke = card_execute(
        app_id, "choose", data, CONVERSATION, "f:exec1", teams.service_url, "1750000000301"
    )

    answers = [deliver(client, teams, config_id, invoke) for _ in range(2)]  # Teams retries

    for answer in answers:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == {
            "statusCode": 200,
            "type": "application/vnd.microsoft.card.adaptive",
            "value": CARD,
        }
    [turn] = db["messages"].find({"tenant_id": tenant, "direction": "inbound"})
    assert (turn["kind"], turn["text"], turn["status"]) == (
        "interactive",
        "Opening hours",
        "accepted",
    )
    assert turn["content"] == {
        "type": "card_action",
        "id": "OPENING_HOURS",
        "title": "Opening hours",
        "values": data,
    }
    assert turn["reply_to"]["activity_id"] == "1750000000301"


def test_a_forged_invoke_is_refused_and_leaves_nothing(
    teams: FakeTeams, client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    config_id, app_id = connect_bot(teams, db, settings, tenant)
    invoke = card_execute(app_id, "choose", {"id": "X"}, CONVERSATION, "f:exec2", teams.service_url)
    body, headers = teams.signed_webhook(invoke)
    headers["authorization"] = "Bearer " + teams.mint_token(
        app_id, teams.service_url, sign_with_other_key=True
    )

    answer = client.post(f"/webhooks/teams/{config_id}", content=body, headers=headers)

    assert answer.status_code == 401
    assert "AdaptiveCard" not in answer.text
    assert db["messages"].count_documents({"tenant_id": tenant}) == 0


def installation(client: TestClient, settings: Settings, tenant: str, config_id: str) -> Any:
    view = client.get(f"/v1/admin/channels/{config_id}", headers=admin(settings, tenant))
    assert view.status_code == 200, view.text
    return view.json().get("installation")


def test_installs_and_removals_move_the_channels_installation_and_are_told_once(
    teams: FakeTeams, client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    config_id, app_id = connect_bot(teams, db, settings, tenant)
    bot = f"28:{app_id}"
    assert installation(client, settings, tenant, config_id) is None
    added = conversation_update(
        app_id, CONVERSATION, teams.service_url, "f:add1", members_added=[bot]
    )
    added["timestamp"] = "2025-06-15T15:00:00.000Z"
    removed = installation_update(app_id, "remove", CONVERSATION, teams.service_url, "f:rm1")
    removed["timestamp"] = "2025-06-15T15:30:00.000Z"

    assert deliver(client, teams, config_id, added).status_code == 200
    assert installation(client, settings, tenant, config_id) == {
        "state": "installed",
        "at": "2025-06-15T15:00:00.000Z",
        "conversation_id": CONVERSATION,
        "conversation_type": "personal",
        "team_id": None,
        "source": "conversationUpdate",
    }
    assert deliver(client, teams, config_id, removed).status_code == 200
    assert deliver(client, teams, config_id, added).status_code == 200  # late and redelivered
    state = installation(client, settings, tenant, config_id)
    assert (state["state"], state["source"]) == ("uninstalled", "installationUpdate")
    doc = db["channel_configs"].find_one({"_id": config_id})
    told = [json.loads(entry["value"]) for entry in doc["outbox"]]
    assert [(e["type"], e["id"]) for e in told] == [
        ("integration.channel.installed", f"{config_id}:f:add1:installed"),
        ("integration.channel.uninstalled", f"{config_id}:f:rm1:uninstalled"),
    ]
    assert told[0]["data"] == {
        "channel": "teams",
        "channel_config_id": config_id,
        "conversation_id": CONVERSATION,
        "source": "conversationUpdate",
        "conversation_type": "personal",
        "team_id": None,
    }
    assert told[0]["tenantid"] == tenant
    assert db["pending_events"].count_documents({"owner": config_id}) == 2
    assert db["messages"].count_documents({"tenant_id": tenant}) == 0


def queued_events(redis_client: redis.Redis, kind: str, config_id: str) -> list[dict[str, Any]]:
    events = [json.loads(raw) for raw in redis_client.lrange(QUEUE, 0, -1)]
    return [
        e for e in events if e["type"] == kind and e["data"].get("channel_config_id") == config_id
    ]


def test_meetings_and_members_are_told_as_integration_events(
    teams: FakeTeams,
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    redis_client: redis.Redis,
    tenant: str,
) -> None:
    config_id, app_id = connect_bot(teams, db, settings, tenant)
    chat = "19:meeting_FAKEinteractions@thread.v2"
    start = meeting_event(
        app_id, True, "MCMxOTptZWV0", "Weekly sync", chat, teams.service_url, "f:ms1"
    )
    joined = conversation_update(
        app_id,
        chat,
        teams.service_url,
        "f:join1",
        members_added=["29:a", "29:b"],
        conversation_type="groupChat",
    )
    for activity in (start, joined):
        assert deliver(client, teams, config_id, activity).status_code == 200

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (
        queued_events(redis_client, "integration.meeting.started", config_id)
        and queued_events(redis_client, "integration.channel.members_changed", config_id)
    ):
        time.sleep(0.1)  # the ingress queues its observations once a second
    [started] = queued_events(redis_client, "integration.meeting.started", config_id)
    assert started["id"] == f"{config_id}:f:ms1:meeting_started"
    assert started["data"] == {
        "channel": "teams",
        "channel_config_id": config_id,
        "conversation_id": chat,
        "source": "event",
        "conversation_type": "groupChat",
        "team_id": None,
        "meeting_id": "MCMxOTptZWV0",
        "meeting_type": "Scheduled",
        "title": "Weekly sync",
    }
    [members] = queued_events(redis_client, "integration.channel.members_changed", config_id)
    assert (members["data"]["added"], members["data"]["removed"]) == (2, 0)
    assert installation(client, settings, tenant, config_id) is None  # others joining is no install
