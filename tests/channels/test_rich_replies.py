"""A rules-engine reply answered over real gRPC, read back as parts and sent by the channel
adapters: link buttons and locations arrive at each provider fake in the provider's own form."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels.runtime import ChannelRuntime, ProviderUrls
from channels.slack import SLACK
from channels.whatsapp import WHATSAPP
from core.envelopes import ChannelConfig, Outbound
from protos import mcp_engine_pb2 as pb
from protos.engine_client import EngineClient
from protos.engine_turn import reply_parts
from services.mcp_engine import serve
from services.mcp_engine.rules import RulesBackend
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.fakes.whatsapp import DEFAULT_ACCESS_TOKEN, DEFAULT_PHONE_NUMBER_ID, FakeWhatsApp
from tests.services.mcp_engine.conftest import free_port

STORE = {
    "card": {
        "title": "Our store",
        "subtitle": "Open 9-18, Monday to Saturday",
        "image_url": "https://cdn.example.com/store.jpg",
        "buttons": [
            {"title": "Directions", "url": "https://maps.example.com/store"},
            {"title": "Opening hours", "url": "https://shop.example.com/hours"},
        ],
    }
}
WHERE = {
    "location": {
        "latitude": 52.3731,
        "longitude": 4.8926,
        "name": "Parley Store",
        "address": "Dam 1, Amsterdam",
    }
}
RULES = {
    "default": {
        "greeting": {"name": "greeting", "keywords": ["hi"], "parts": [{"text": "Hello!"}]},
        "intents": [
            {"name": "store", "keywords": ["store"], "parts": [STORE]},
            {"name": "where", "keywords": ["where"], "parts": [WHERE]},
        ],
        "fallback": {"parts": [{"text": "?"}]},
    }
}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineClient]:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(RULES))
    port = free_port()
    server = serve(port, RulesBackend.from_file(path))
    client = EngineClient(f"127.0.0.1:{port}")
    yield client
    client.close()
    server.stop(grace=1).wait()


def answer(engine: EngineClient, text: str, recipient: str, **reply_to: str) -> Outbound:
    request = pb.GenerateRequest(
        request_id="msg_1", tenant_id="t_shop", conversation_id="conv_1", text=text
    )
    parts = reply_parts(engine.generate(request, timeout=5.0))
    return Outbound(
        tenant_id="t_shop",
        message_id="msg_1:reply",
        conversation_id="conv_1",
        recipient=recipient,
        text="",
        parts=parts,
        reply_to=reply_to,
    )


def cta_url(body: str, title: str, url: str, header: dict[str, Any] | None = None) -> Any:
    interactive: dict[str, Any] = {"type": "cta_url"}
    interactive |= {"header": header} if header else {}
    interactive |= {
        "body": {"text": body},
        "action": {"name": "cta_url", "parameters": {"display_text": title, "url": url}},
    }
    return interactive


def test_a_card_of_links_is_a_native_cta_url_and_a_location_a_location_on_whatsapp(
    engine: EngineClient,
) -> None:
    config = ChannelConfig(
        "cc_wa", "t_shop", "whatsapp", DEFAULT_PHONE_NUMBER_ID,
        secrets={"access_token": DEFAULT_ACCESS_TOKEN},
    )  # fmt: skip
    with FakeWhatsApp() as fake:
        runtime = ChannelRuntime.create(ProviderUrls(whatsapp_api=fake.base_url))
        try:
            WHATSAPP.send(answer(engine, "Which store?", "15550100099"), config, runtime)
            WHATSAPP.send(answer(engine, "Where are you?", "15550100099"), config, runtime)
        finally:
            runtime.close()
    card, more_links, location = [sent.body for sent in fake.sent]
    assert card["type"] == "interactive"
    assert card["interactive"] == cta_url(
        "Our store\nOpen 9-18, Monday to Saturday",
        "Directions",
        "https://maps.example.com/store",
        header={"type": "image", "image": {"link": "https://cdn.example.com/store.jpg"}},
    )
    assert more_links["text"]["body"] == "1. Opening hours https://shop.example.com/hours"
    assert location["type"] == "location"
    assert location["location"] == WHERE["location"]


def test_a_card_of_links_is_block_kit_url_buttons_on_slack(engine: EngineClient) -> None:
    config = ChannelConfig(
        "cc_sl", "t_shop", "slack", "T0FAKETEAM1", secrets={"bot_token": BOT_TOKEN}
    )
    with FakeSlack() as fake:
        runtime = ChannelRuntime.create(ProviderUrls(slack_api=fake.base_url))
        try:
            reply = answer(engine, "the store?", "U0FAKEUSR01", channel="D0FAKEDM001")
            SLACK.send(reply, config, runtime)
        finally:
            runtime.close()
    [posted] = fake.posted
    actions = [block for block in posted["blocks"] if block["type"] == "actions"]
    assert actions == [
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "option_1",
                    "text": {"type": "plain_text", "text": "Directions"},
                    "url": "https://maps.example.com/store",
                },
                {
                    "type": "button",
                    "action_id": "option_2",
                    "text": {"type": "plain_text", "text": "Opening hours"},
                    "url": "https://shop.example.com/hours",
                },
            ],
        }
    ]
    assert {"type": "image", "image_url": STORE["card"]["image_url"], "alt_text": "Our store"} in (
        posted["blocks"]
    )
