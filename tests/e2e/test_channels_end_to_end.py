"""Each provider end to end: a signed webhook in, the reply at the provider's fake, status
callbacks moving it forward — through the real ingress, workers, engine and services."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx
import pytest
from channel_scenarios import MessengerScenario, SlackScenario, WhatsAppScenario, post
from processes import ProcessGroup, running_platform
from pymongo.database import Database
from testenv import ENGINE_PORT, free_port
from waiting import eventually

from core.settings import Settings
from core.tokens import mint_token
from tests.fakes.accounts import ProviderAccounts
from tests.fakes.messenger import FakeMessenger
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import FakeTeams, message_activity, read_receipt
from tests.fakes.whatsapp import FakeWhatsApp, graph_error_body

pytestmark = pytest.mark.e2e

HOURS = "We are open Monday to Friday, 9:00 to 18:00."
TEAMS_PASSWORD = "FAKE~teams~" + uuid.uuid4().hex
T = TypeVar("T")


class Stack:
    def __init__(self, base: str, group: ProcessGroup, providers: ProviderAccounts) -> None:
        self.base = base
        self.group = group
        self.providers = providers
        self.fakes: dict[str, Any] = {
            "whatsapp": providers.whatsapp,
            "messenger": providers.messenger,
            "slack": providers.slack,
            "teams": providers.teams,
        }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, db: Any, broker: Any) -> Iterator[Stack]:
    logs: Path = tmp_path_factory.mktemp("channel-logs")
    with ExitStack() as stack:
        providers = stack.enter_context(ProviderAccounts())
        env = providers.env
        base, group = stack.enter_context(running_platform(logs, ENGINE_PORT, free_port(), env))
        yield Stack(base, group, providers)


def connect(stack: Stack, settings: Settings, tenant: str, scenario: Any) -> str:
    """Registers the scenario's account, which its provider fake proves."""
    token = mint_token(settings.require_jwt_secret(), tenant, "ops", 600)
    created = httpx.post(
        f"{stack.base}/v1/admin/channels",
        headers={"Authorization": f"Bearer {token}"},
        json=stack.providers.own(scenario.registration()),
    )
    assert created.status_code == 201, created.text
    return f"{stack.base}/webhooks/{scenario.channel}/{created.json()['id']}"


def all_of(count: int, items: list[T]) -> list[T] | None:
    """``items`` once there are ``count`` of them (a multi-part reply arrives part by part)."""
    return items if len(items) == count else None


def reply_of(db: Database[Any], tenant: str, status: str | None = None) -> dict[str, Any] | None:
    query: dict[str, Any] = {"tenant_id": tenant, "direction": "outbound"}
    if status:
        query["status"] = status
    found: dict[str, Any] | None = db["messages"].find_one(query)
    return found


def test_whatsapp_text_is_answered_and_status_callbacks_move_the_reply_forward(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake: FakeWhatsApp = stack.fakes["whatsapp"]
    scenario = WhatsAppScenario()
    url = connect(stack, settings, tenant, scenario)
    assert (
        post(url, scenario.inbound_text("Olá! What are your opening hours? 😀")).status_code == 200
    )
    sent = eventually(
        lambda: [s for s in fake.sent if s.body.get("to") == scenario.user], "the WhatsApp reply"
    )
    assert len(sent) == 1
    assert sent[0].phone_number_id == scenario.account_id
    assert sent[0].body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": scenario.user,
        "type": "text",
        "text": {"preview_url": False, "body": HOURS},
    }
    request = next(r for r in fake.requests if r.path == f"/{scenario.account_id}/messages")
    assert request.headers["authorization"] == f"Bearer {scenario.access_token}"
    reply = eventually(lambda: reply_of(db, tenant, "sent"), "the reply marked sent")
    assert reply["provider_message_ids"] == [sent[0].wamid]
    for state, expected in (("delivered", "delivered"), ("read", "read"), ("delivered", "read")):
        assert post(url, scenario.status(sent[0].wamid, state)).status_code == 200
        assert eventually(lambda e=expected: reply_of(db, tenant, e), f"status {expected}")
    assert db["messages"].count_documents({"tenant_id": tenant}) == 2  # callbacks start nothing


def test_messenger_text_is_answered_and_delivery_then_read_move_it_forward(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake: FakeMessenger = stack.fakes["messenger"]
    scenario = MessengerScenario()
    url = connect(stack, settings, tenant, scenario)
    assert post(url, scenario.inbound_text("What are your opening hours?")).status_code == 200
    sent = eventually(
        lambda: [b for b in fake.sent() if b["recipient"]["id"] == scenario.user],
        "the Messenger reply",
    )
    reply = eventually(lambda: reply_of(db, tenant, "sent"), "the reply marked sent")
    assert sent == [
        {
            "recipient": {"id": scenario.user},
            "messaging_type": "RESPONSE",
            "message": {"text": HOURS, "metadata": reply["_id"]},
        }
    ]
    (provider_id,) = reply["provider_message_ids"]
    for state, expected in (("delivered", "delivered"), ("read", "read"), ("delivered", "read")):
        assert post(url, scenario.status(provider_id, state)).status_code == 200
        assert eventually(lambda e=expected: reply_of(db, tenant, e), f"status {expected}")


def bodies_to(fake: Any, path: str) -> list[Any]:
    """The JSON bodies ``fake`` received on ``path``, in the order they arrived."""
    return [request.json() for request in list(fake.requests) if request.path == path]


def test_a_whatsapp_turn_shows_a_typing_indicator_before_the_reply(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake: FakeWhatsApp = stack.fakes["whatsapp"]
    scenario = WhatsAppScenario()
    url = connect(stack, settings, tenant, scenario)
    wamid = "wamid.FAKEtyping" + uuid.uuid4().hex
    assert post(url, scenario.inbound_text("opening hours?", message_id=wamid)).status_code == 200
    eventually(lambda: reply_of(db, tenant, "sent"), "the reply marked sent")
    received = bodies_to(fake, f"/{scenario.account_id}/messages")
    assert received[0] == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
        "typing_indicator": {"type": "text"},
    }
    assert [body.get("to") for body in received[1:]] == [scenario.user]


def test_a_refused_typing_indicator_is_not_retried_and_the_reply_goes_out(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake: FakeWhatsApp = stack.fakes["whatsapp"]
    scenario = WhatsAppScenario()
    url = connect(stack, settings, tenant, scenario)
    fake.fail_next(500, graph_error_body(131000), indicators=True)
    assert post(url, scenario.inbound_text("opening hours?")).status_code == 200
    eventually(lambda: reply_of(db, tenant, "sent"), "the reply marked sent")
    received = bodies_to(fake, f"/{scenario.account_id}/messages")
    assert [body.get("status", body.get("to")) for body in received] == ["read", scenario.user]
    assert "no typing indicator for" in stack.group.log("worker-generate", tail=None)


def test_a_messenger_turn_shows_typing_on_before_the_reply(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake: FakeMessenger = stack.fakes["messenger"]
    scenario = MessengerScenario()
    url = connect(stack, settings, tenant, scenario)
    assert post(url, scenario.inbound_text("opening hours?")).status_code == 200
    eventually(lambda: reply_of(db, tenant, "sent"), "the reply marked sent")
    received = [b for b in bodies_to(fake, "/me/messages") if b["recipient"]["id"] == scenario.user]
    assert received[0] == {"recipient": {"id": scenario.user}, "sender_action": "typing_on"}
    assert [body["message"]["text"] for body in received[1:]] == [HOURS]


def test_slack_direct_message_is_answered_in_place(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake: FakeSlack = stack.fakes["slack"]
    scenario = SlackScenario()
    url = connect(stack, settings, tenant, scenario)
    assert post(url, scenario.inbound_text("what are your opening hours?")).status_code == 200
    posted = eventually(
        lambda: [b for b in fake.posted if b.get("channel") == scenario.dm_channel],
        "the Slack reply",
    )
    assert posted == [{"channel": scenario.dm_channel, "text": HOURS}]
    auth = [r for r in fake.requests_to("/chat.postMessage")][-1].headers["authorization"]
    assert auth == f"Bearer {scenario.bot_token}"
    # Slack has no delivery callbacks: a posted message is delivered.
    assert eventually(lambda: reply_of(db, tenant, "delivered"), "the reply delivered")


def test_where_are_you_is_a_native_location_and_a_card_of_links_on_whatsapp_and_slack(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    whatsapp: FakeWhatsApp = stack.fakes["whatsapp"]
    slack: FakeSlack = stack.fakes["slack"]
    wa, sl = WhatsAppScenario(), SlackScenario()
    assert post(connect(stack, settings, tenant, wa), wa.inbound_text("Where are you?")).is_success
    assert post(connect(stack, settings, tenant, sl), sl.inbound_text("Where are you?")).is_success

    sent = eventually(
        lambda: all_of(3, [s.body for s in whatsapp.sent if s.body.get("to") == wa.user]),
        "the WhatsApp reply's three messages",
    )
    assert [body["type"] for body in sent] == ["location", "interactive", "text"]
    assert sent[0]["location"] == {
        "latitude": 52.3731,
        "longitude": 4.8926,
        "name": "Parley Store",
        "address": "Dam 1, 1012 JS Amsterdam",
    }
    assert sent[1]["interactive"]["type"] == "cta_url"
    assert sent[1]["interactive"]["action"] == {
        "name": "cta_url",
        "parameters": {
            "display_text": "Directions",
            "url": "https://maps.example.com/parley-store",
        },
    }
    assert sent[2]["text"]["body"] == "1. Plan your visit https://example.com/parley-store/visit"
    posted = eventually(
        lambda: all_of(2, [b for b in slack.posted if b.get("channel") == sl.dm_channel]),
        "the Slack reply's two messages",
    )
    assert "maps/search/?api=1&amp;query=52.3731,4.8926" in posted[0]["text"]
    [actions] = [block for block in posted[1]["blocks"] if block["type"] == "actions"]
    assert [(b["text"]["text"], b.get("url")) for b in actions["elements"]] == [
        ("Directions", "https://maps.example.com/parley-store"),
        ("Plan your visit", "https://example.com/parley-store/visit"),
    ]


def test_teams_message_is_answered_on_its_conversation_and_a_read_receipt_marks_it_read(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake: FakeTeams = stack.fakes["teams"]
    app_id, password = str(uuid.uuid4()), TEAMS_PASSWORD
    fake.add_app(app_id, password)
    registration = {
        "channel": "teams",
        "account_id": app_id,
        "secrets": {"app_password": password},
        "options": {"azure_tenant": "botframework.com"},
    }
    token = mint_token(settings.require_jwt_secret(), tenant, "ops", 600)
    created = httpx.post(
        f"{stack.base}/v1/admin/channels",
        headers={"Authorization": f"Bearer {token}"},
        json=registration,
    )
    assert created.status_code == 201, created.text
    url = f"{stack.base}/webhooks/teams/{created.json()['id']}"
    conversation = "a:1FAKE" + uuid.uuid4().hex
    activity = message_activity(
        app_id, "What are your opening hours?", conversation, "1750000000001", fake.service_url
    )
    assert post(url, fake.signed_webhook(activity)).status_code == 200
    sent = eventually(
        lambda: [s for s in fake.sent if s.conversation_id == conversation], "the Teams reply"
    )
    assert len(sent) == 1
    # The typing indicator reached the connector before the reply.
    posted = [r.json()["type"] for r in list(fake.requests) if conversation in unquote(r.path)]
    assert posted == ["typing", "message"]
    assert sent[0].reply_to_id == "1750000000001"
    assert sent[0].authorization.startswith("Bearer ")
    assert sent[0].activity == {
        "type": "message",
        "from": {"id": f"28:{app_id}", "name": activity["recipient"]["name"]},
        "conversation": {"id": conversation},
        "recipient": {"id": activity["from"]["id"], "name": activity["from"]["name"]},
        "replyToId": "1750000000001",
        "text": HOURS,
        "textFormat": "plain",
    }
    # Teams has no delivery callbacks: a posted activity is delivered; read receipts follow.
    assert eventually(lambda: reply_of(db, tenant, "delivered"), "the reply delivered")
    receipt = read_receipt(app_id, sent[0].activity_id, conversation, fake.service_url)
    assert post(url, fake.signed_webhook(receipt)).status_code == 200
    assert eventually(lambda: reply_of(db, tenant, "read"), "the reply read")
    forged = fake.mint_token(app_id, fake.service_url, sign_with_other_key=True)
    raw, headers = fake.signed_webhook(activity)
    rejected = httpx.post(
        url, content=raw, headers={**headers, "Authorization": f"Bearer {forged}"}
    )
    assert rejected.status_code == 401


@pytest.mark.parametrize("kind", ["whatsapp", "messenger", "slack"])
def test_the_same_webhook_ten_times_at_once_is_one_message_one_chain_one_reply(
    kind: str, stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    scenario = {
        "whatsapp": WhatsAppScenario,
        "messenger": MessengerScenario,
        "slack": SlackScenario,
    }[kind]()
    url = connect(stack, settings, tenant, scenario)
    signed = scenario.inbound_text("hello")
    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda _: post(url, signed).status_code, range(10)))
    assert statuses == [200] * 10
    eventually(lambda: reply_of(db, tenant, "delivered" if kind == "slack" else "sent"), "reply")
    time.sleep(1.0)  # room for a second chain to show itself, if there were one
    assert db["messages"].count_documents({"tenant_id": tenant, "direction": "inbound"}) == 1
    assert db["messages"].count_documents({"tenant_id": tenant, "direction": "outbound"}) == 1
    fake = stack.fakes[kind]
    if kind == "whatsapp":
        assert len([s for s in fake.sent if s.body.get("to") == scenario.user]) == 1
    elif kind == "messenger":
        assert len([b for b in fake.sent() if b["recipient"]["id"] == scenario.user]) == 1
    else:
        assert len([b for b in fake.posted if b.get("channel") == scenario.dm_channel]) == 1


def test_no_secret_appears_in_any_log_line(stack: Stack) -> None:
    # Scenario secrets are class-level defaults: these are the ones every test above used.
    secrets = {
        *WhatsAppScenario().secret_values(),
        *MessengerScenario().secret_values(),
        *SlackScenario().secret_values(),
        TEAMS_PASSWORD,
    }
    logs = stack.group.all_logs()
    assert "parley.deliver" in logs  # the workers' task logs were captured
    assert [s for s in secrets if s in logs] == []
