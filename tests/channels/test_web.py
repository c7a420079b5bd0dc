"""The web channel's adapter on the real Redis: a reply is one ``message`` event on the
visitor's stream, its receipt names the reply and is not a delivery; a reply with no widget is
refused for good, and a process without a publisher or a stream that refuses is worth a retry."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis

from channels.base import SendFailed, SendRejected
from channels.registry import adapter_for
from channels.runtime import ChannelRuntime, ProviderUrls
from channels.web import WEB
from core.envelopes import ChannelConfig, Outbound
from storage.visitor_streams import VisitorStreams, decode_entry, stream_key

NO_CONFIG = ChannelConfig(id="", tenant_id="t_web", channel="web", account_id="")
PARTS = [
    {"type": "text", "text": "Here you are."},
    {"type": "quick_replies", "text": "More?", "options": [{"title": "Yes", "payload": "YES"}]},
]


def outbound(visitor: str, **reply_to: str) -> Outbound:
    return Outbound(
        tenant_id="t_web",
        message_id="msg_1.r",
        conversation_id="conv_1",
        recipient=visitor,
        text="Here you are.\nMore?\n1. Yes",
        parts=PARTS,
        reply_to=reply_to,
    )


@pytest.fixture
def runtime(redis_client: redis.Redis) -> Iterator[ChannelRuntime]:
    made = ChannelRuntime.create(ProviderUrls(), visitor_events=VisitorStreams(redis_client))
    yield made
    made.close()


def test_the_registry_answers_web_with_the_web_adapter() -> None:
    assert adapter_for("web") is WEB


def test_a_reply_is_one_message_event_on_the_visitors_stream(
    runtime: ChannelRuntime, redis_client: redis.Redis
) -> None:
    visitor = "v_" + secrets.token_hex(4)
    receipt = WEB.send(outbound(visitor, widget_id="wgt_a"), NO_CONFIG, runtime)
    assert receipt.provider_message_ids == ["msg_1.r"] and receipt.delivered is False
    entries = redis_client.xrange(stream_key("t_web", "wgt_a", visitor))
    [event] = [decode_entry(entry_id, fields) for entry_id, fields in entries]
    assert event["type"] == "message" and event["ts"]
    message = event["message"]
    assert {k: message[k] for k in ("id", "conversation_id", "direction", "parts", "status")} == {
        "id": "msg_1.r",
        "conversation_id": "conv_1",
        "direction": "outbound",
        "parts": PARTS,
        "status": "sent",
    }


def test_a_reply_that_names_no_widget_is_refused_for_good(runtime: ChannelRuntime) -> None:
    with pytest.raises(SendRejected):
        WEB.send(outbound("v_x"), NO_CONFIG, runtime)


def test_without_a_publisher_or_with_a_stream_down_the_send_is_worth_a_retry() -> None:
    bare = ChannelRuntime.create(ProviderUrls())
    down = ChannelRuntime.create(
        ProviderUrls(),
        visitor_events=VisitorStreams(redis.Redis(port=1, socket_connect_timeout=0.5)),
    )
    try:
        for runtime in (bare, down):
            with pytest.raises(SendFailed):
                WEB.send(outbound("v_x", widget_id="wgt_a"), NO_CONFIG, runtime)
    finally:
        bare.close()
        down.close()


def test_parts_the_widget_cannot_draw_reach_it_as_text(
    runtime: ChannelRuntime, redis_client: redis.Redis
) -> None:
    visitor = "v_" + secrets.token_hex(4)
    location = {"type": "location", "latitude": 51.5, "longitude": -0.12, "name": "Office"}
    reply = Outbound(
        tenant_id="t_web",
        message_id="msg_2.r",
        conversation_id="conv_1",
        recipient=visitor,
        text="",
        parts=[PARTS[1], location],
        reply_to={"widget_id": "wgt_a"},
    )
    WEB.send(reply, NO_CONFIG, runtime)
    entries = redis_client.xrange(stream_key("t_web", "wgt_a", visitor))
    [event] = [decode_entry(entry_id, fields) for entry_id, fields in entries]
    assert event["message"]["parts"] == [
        PARTS[1],
        {
            "type": "text",
            "text": "Office\nhttps://www.google.com/maps/search/?api=1&query=51.5,-0.12",
        },
    ]
