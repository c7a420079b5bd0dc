"""The deliver stage checks a WhatsApp template reply against the account's synced templates:
unknown, not approved or wrongly parameterised is a permanent failure before any send."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from channel_scenarios import WhatsAppScenario
from pymongo.database import Database

from channels.runtime import ChannelRuntime, ProviderUrls
from core.crypto import SecretBox
from core.ids import new_id
from core.settings import Settings
from core.states import Status
from core.templates import MessageTemplate
from core.timeutil import utcnow
from storage.channel_configs import ChannelConfigRepository
from storage.conversations import ConversationRepository
from storage.messages import MessageRepository, reply_id
from storage.templates import TemplateRepository
from storage.turn_order import TurnOrder
from tasks.deliver import deliver
from tasks.runtime import clients
from tests.fakes.whatsapp import DEFAULT_WABA_ID, FakeWhatsApp

SHIPPED = MessageTemplate(
    "order_shipped_v1", "en_US", "APPROVED", "UTILITY", {"header": 1, "body": 2, "button:0": 1}
)
BODY = [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#1"}]


def _template(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "template",
        "name": "order_shipped_v1",
        "language": {"code": "en_US"},
        "components": [
            {
                "type": "header",
                "parameters": [{"type": "image", "image": {"link": "https://x/p.jpg"}}],
            },
            {"type": "body", "parameters": body},
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "0",
                "parameters": [{"type": "payload", "payload": "OK"}],
            },
        ],
    }


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp() as server:
        runtime = ChannelRuntime.create(
            ProviderUrls(whatsapp_api=server.base_url), send_timeout=10.0
        )
        monkeypatch.setattr(clients(), "channels", runtime)
        yield server
        runtime.close()


def _turn(
    db: Database[Any], settings: Settings, tenant: str, part: dict[str, Any], status: str
) -> str:
    scenario = WhatsAppScenario()
    config = ChannelConfigRepository(db, SecretBox(settings.require_master_key())).create(
        tenant,
        "whatsapp",
        scenario.account_id,
        {"access_token": scenario.access_token, "app_secret": "FAKE_s", "verify_token": "FAKE_v"},
        {"business_account_id": DEFAULT_WABA_ID},
    )
    TemplateRepository(db).replace(
        tenant, config["_id"], [MessageTemplate(**{**SHIPPED.__dict__, "status": status})]
    )
    message_id = new_id("msg")
    conversation = ConversationRepository(db).resolve_open(
        tenant, "whatsapp", scenario.user, message_id
    )
    now = utcnow()
    common = {
        "tenant_id": tenant,
        "conversation_id": conversation,
        "channel": "whatsapp",
        "channel_config_id": config["_id"],
        "user_id": scenario.user,
        "created_at": now,
        "updated_at": now,
    }
    repo = MessageRepository(db)
    repo.insert_once(
        {
            **common,
            "_id": message_id,
            "direction": "inbound",
            "text": "hi",
            "dedupe_key": f"msg:{message_id}",
            "status": Status.GENERATED.value,
            "journey": {"accepted": now, "generated": now},
        }
    )
    repo.insert_reply(
        {
            **common,
            "_id": reply_id(message_id),
            "direction": "outbound",
            "in_reply_to": message_id,
            "dedupe_key": f"reply:{reply_id(message_id)}",
            "text": "shipped",
            "parts": [part],
            "status": Status.GENERATED.value,
            "journey": {"generated": now},
        }
    )
    TurnOrder(clients().redis).rebuild([(tenant, conversation, message_id)])
    return message_id


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        ("PENDING", BODY, "is PENDING, not APPROVED"),
        ("APPROVED", BODY[:1], "body takes 2 parameter(s), 1 given"),
    ],
    ids=["not-approved", "wrong-parameter-count"],
)
def test_a_template_the_account_cannot_send_is_dead_lettered_before_any_call(
    db: Database[Any],
    settings: Settings,
    tenant: str,
    fake: FakeWhatsApp,
    status: str,
    body: list[dict[str, Any]],
    reason: str,
) -> None:
    message_id = _turn(db, settings, tenant, _template(body), status)
    deliver(tenant, message_id)
    assert fake.requests_to("/messages") == []
    reply = db["messages"].find_one({"_id": reply_id(message_id)})
    assert reply is not None and reply["status"] == Status.FAILED.value
    assert reply["delivery_error"]["code"] == "template"
    assert reason in reply["delivery_error"]["message"]
    letter = db["dead_letters"].find_one({"tenant_id": tenant, "message_id": message_id})
    assert letter is not None and letter["last_error"]["classification"] == "permanent"


def test_an_approved_template_with_its_parameters_is_sent(
    db: Database[Any], settings: Settings, tenant: str, fake: FakeWhatsApp
) -> None:
    message_id = _turn(db, settings, tenant, _template(BODY), "APPROVED")
    deliver(tenant, message_id)
    assert [sent.body["template"]["name"] for sent in fake.sent] == ["order_shipped_v1"]
    reply = db["messages"].find_one({"_id": reply_id(message_id)})
    assert reply is not None and reply["status"] == Status.SENT.value
