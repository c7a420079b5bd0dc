"""The Messenger adapter against Meta's sample payloads and a fake Send API."""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from channels.base import RateLimited, SendFailed, SendRejected, VerificationFailed
from channels.messenger import MESSENGER
from channels.runtime import ChannelRuntime, ProviderUrls
from core.envelopes import (
    ChannelConfig,
    DeliveryState,
    InboundMessage,
    Outbound,
    ReplyAddress,
    StatusUpdate,
)
from tests.fakes.messenger import (
    PAGE_TOKEN,
    FakeMessenger,
    delivery,
    graph_error,
    inbound_text,
    read,
    signed_webhook,
)

PAYLOADS = Path(__file__).resolve().parents[3] / "shared" / "channels" / "payloads" / "messenger"
PAGE = "300000000000001"
PSID = "7000000000000001"
MID = "m_FAKEAG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_"
APP_SECRET = "FAKE_APP_SECRET_messenger"
CONFIG = ChannelConfig(
    id="cfg_1",
    tenant_id="t_1",
    channel="messenger",
    account_id=PAGE,
    secrets={
        "page_token": PAGE_TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": "FAKE_VERIFY_TOKEN_abc123",
    },
)


def sample(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def sample_bytes(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes()


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def reply(*parts: dict[str, Any], text: str = "") -> Outbound:
    return Outbound(
        tenant_id="t_1",
        message_id="msg_1:reply",
        conversation_id="conv_1",
        recipient=PSID,
        text=text,
        parts=list(parts),
    )


def with_metadata(body: dict[str, Any]) -> dict[str, Any]:
    """A sample outbound body as Parley sends it: tagged with the reply's message id."""
    expected = copy.deepcopy(body)
    expected["message"]["metadata"] = "msg_1:reply"
    return expected


def text_body(text: str) -> dict[str, Any]:
    return with_metadata(
        {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": text}}
    )


@pytest.fixture
def fake() -> Iterator[FakeMessenger]:
    with FakeMessenger() as server:
        yield server


@pytest.fixture
def runtime(fake: FakeMessenger) -> Iterator[ChannelRuntime]:
    runtime = ChannelRuntime.create(ProviderUrls(messenger_api=fake.base_url), send_timeout=2.0)
    yield runtime
    runtime.close()


# --- handshake and signature -------------------------------------------------------------


def test_handshake_echoes_the_challenge_when_the_verify_token_matches() -> None:
    query = sample("verification_handshake.example")["request"]["query"]
    assert MESSENGER.handshake(query, CONFIG) == "CHALLENGE_ACCEPTED_87412"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "c"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "FAKE_VERIFY_TOKEN_abc123"},
        {},
    ],
)
def test_handshake_with_a_wrong_token_or_mode_is_refused(query: dict[str, str]) -> None:
    with pytest.raises(VerificationFailed):
        MESSENGER.handshake(query, CONFIG)


def test_verify_accepts_a_signature_over_escaped_emoji_and_accents(
    runtime: ChannelRuntime,
) -> None:
    raw, headers = signed_webhook(
        inbound_text(PAGE, PSID, "Crème brûlée? 🍮 https://x.example/a"), APP_SECRET
    )
    assert b"\\u00e8" in raw and b"\\ud83c\\udf6e" in raw and b"https:\\/\\/" in raw
    MESSENGER.verify(headers, raw, CONFIG, runtime)
    assert MESSENGER.parse(raw, "application/json").messages[0].text == (
        "Crème brûlée? 🍮 https://x.example/a"
    )


def test_verify_rejects_a_wrong_signature_a_tampered_body_a_missing_header_or_secret(
    runtime: ChannelRuntime,
) -> None:
    raw, headers = signed_webhook(inbound_text(PAGE, PSID, "Olá 👋"), APP_SECRET)
    other_secret = replace(CONFIG, secrets={"app_secret": "FAKE_other"})
    no_secret = replace(CONFIG, secrets={})
    attempts = [
        ({"x-hub-signature-256": "sha256=" + "0" * 64}, raw, CONFIG),
        (headers, raw.replace(b"Ol", b"Oi"), CONFIG),
        ({"content-type": "application/json"}, raw, CONFIG),
        ({"x-hub-signature-256": headers["x-hub-signature-256"][7:]}, raw, CONFIG),
        (headers, raw, other_secret),
        (headers, raw, no_secret),
    ]
    for attempt_headers, body, config in attempts:
        with pytest.raises(VerificationFailed):
            MESSENGER.verify(attempt_headers, body, config, runtime)


# --- parsing ----------------------------------------------------------------------------


def test_a_text_message_parses_with_its_mid_sender_and_time() -> None:
    webhook = MESSENGER.parse(sample_bytes("inbound_text"), "application/json")
    assert webhook.messages == [
        InboundMessage(
            provider_message_id=MID + "0001",
            account_id=PAGE,
            user_id=PSID,
            kind="text",
            text="Hi, has my order #1234 shipped?",
            sent_at=ms(1750000000101),
        )
    ]
    assert webhook.statuses == []
    assert webhook.account_ids == {PAGE}


def test_an_image_attachment_parses_as_an_image_with_its_url() -> None:
    [message] = MESSENGER.parse(sample_bytes("inbound_image"), "application/json").messages
    url = sample("inbound_image")["entry"][0]["messaging"][0]["message"]["attachments"][0]
    assert (message.provider_message_id, message.kind, message.text) == (MID + "0002", "image", "")
    assert message.content == {"type": "image", "url": url["payload"]["url"]}


def test_video_audio_and_file_attachments_parse_as_media_one_message_each() -> None:
    body = sample("inbound_image")
    body["entry"][0]["messaging"][0]["message"]["attachments"] = [
        {"type": kind, "payload": {"url": f"https://cdn.example/{kind}"}}
        for kind in ("video", "audio", "file")
    ]
    messages = MESSENGER.parse(json.dumps(body).encode(), "application/json").messages
    assert [(m.provider_message_id, m.kind, m.content) for m in messages] == [
        (MID + "0002", "media", {"type": "video", "url": "https://cdn.example/video"}),
        (MID + "0002:1", "media", {"type": "audio", "url": "https://cdn.example/audio"}),
        (MID + "0002:2", "media", {"type": "file", "url": "https://cdn.example/file"}),
    ]


def test_a_legacy_location_parses_into_float_coordinates() -> None:
    [message] = MESSENGER.parse(
        sample_bytes("inbound_location_legacy"), "application/json"
    ).messages
    assert message.kind == "location"
    assert message.text == "Test User's Location"
    assert message.content == {
        "latitude": 37.4847,
        "longitude": -122.1486,
        "name": "Test User's Location",
    }


def test_a_quick_reply_tap_parses_as_interactive_before_text() -> None:
    [message] = MESSENGER.parse(sample_bytes("inbound_quick_reply"), "application/json").messages
    assert (message.provider_message_id, message.kind, message.text) == (
        MID + "0004",
        "interactive",
        "Express",
    )
    assert message.content == {"type": "quick_reply", "id": "SHIP_EXPRESS", "title": "Express"}


def test_a_postback_parses_as_interactive_with_its_payload_and_mid() -> None:
    [message] = MESSENGER.parse(sample_bytes("inbound_postback"), "application/json").messages
    assert message == InboundMessage(
        provider_message_id=MID + "0005",
        account_id=PAGE,
        user_id=PSID,
        kind="interactive",
        text="Track order",
        content={"type": "postback", "id": "TRACK_ORDER_1234", "title": "Track order"},
        sent_at=ms(1750000000105),
    )


def test_a_delivery_gives_a_watermark_update_and_one_update_per_mid() -> None:
    webhook = MESSENGER.parse(sample_bytes("inbound_delivery"), "application/json")
    common: dict[str, Any] = {
        "account_id": PAGE,
        "state": DeliveryState.DELIVERED,
        "user_id": PSID,
        "watermark": ms(1750000000050),
        "at": ms(1750000000106),
    }
    assert webhook.messages == []
    assert webhook.statuses == [
        StatusUpdate(**common),
        StatusUpdate(**common, provider_message_id=MID + "0101"),
    ]


def test_a_read_gives_one_watermark_update() -> None:
    webhook = MESSENGER.parse(sample_bytes("inbound_read"), "application/json")
    assert webhook.statuses == [
        StatusUpdate(
            account_id=PAGE,
            state=DeliveryState.READ,
            user_id=PSID,
            watermark=ms(1750000000060),
            at=ms(1750000000107),
        )
    ]


def test_an_echo_of_the_pages_own_send_is_dropped_but_its_page_is_named() -> None:
    webhook = MESSENGER.parse(sample_bytes("inbound_echo"), "application/json")
    assert (webhook.messages, webhook.statuses, webhook.account_ids) == ([], [], frozenset({PAGE}))


def test_unknown_events_standby_and_other_objects_are_ignored() -> None:
    body = sample("inbound_text")
    entry = body["entry"][0]
    event = entry["messaging"][0]
    entry["messaging"] = [
        {**{k: event[k] for k in ("sender", "recipient", "timestamp")}, "reaction": {"mid": "m"}},
        "not an event",
    ]
    entry["standby"] = [event]
    webhook = MESSENGER.parse(json.dumps(body).encode(), "application/json")
    assert (webhook.messages, webhook.statuses, webhook.account_ids) == ([], [], frozenset({PAGE}))
    instagram = json.dumps({"object": "instagram", "entry": [{"id": "1", "messaging": []}]})
    assert MESSENGER.parse(instagram.encode(), "application/json").account_ids == frozenset()


def test_every_page_a_batched_body_names_is_an_account_id() -> None:
    body = sample("inbound_text")
    other = copy.deepcopy(body["entry"][0])
    other["id"] = "300000000000002"
    other["messaging"][0]["recipient"]["id"] = "300000000000003"
    body["entry"].append(other)
    webhook = MESSENGER.parse(json.dumps(body).encode(), "application/json")
    assert webhook.account_ids == {PAGE, "300000000000002", "300000000000003"}
    assert [m.account_id for m in webhook.messages] == [PAGE, "300000000000002"]


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"object":"page"}', b"\xff"])
def test_a_body_that_is_not_a_webhook_is_refused(raw: bytes) -> None:
    with pytest.raises(VerificationFailed):
        MESSENGER.parse(raw, "application/json")


def test_the_fake_builders_make_webhooks_the_adapter_verifies_and_parses(
    runtime: ChannelRuntime,
) -> None:
    payloads = [
        inbound_text(PAGE, PSID, "hi", mid="m_FAKE1"),
        delivery(PAGE, PSID, 1750000000050, mids=["m_FAKE2"]),
        read(PAGE, PSID, 1750000000060),
    ]
    parsed = []
    for payload in payloads:
        raw, headers = signed_webhook(payload, APP_SECRET)
        MESSENGER.verify(headers, raw, CONFIG, runtime)
        parsed.append(MESSENGER.parse(raw, headers["content-type"]))
    assert [(m.provider_message_id, m.text) for m in parsed[0].messages] == [("m_FAKE1", "hi")]
    assert [(s.state, s.provider_message_id) for s in parsed[1].statuses] == [
        (DeliveryState.DELIVERED, None),
        (DeliveryState.DELIVERED, "m_FAKE2"),
    ]
    assert [(s.state, s.watermark) for s in parsed[2].statuses] == [
        (DeliveryState.READ, ms(1750000000060))
    ]


# --- sending ----------------------------------------------------------------------------


def test_text_is_sent_with_the_page_token_as_bearer(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    receipt = MESSENGER.send(reply(text="Your order #1234 has shipped."), CONFIG, runtime)
    [request] = fake.requests
    assert (request.method, request.path, request.query) == ("POST", "/me/messages", {})
    assert request.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    expected = sample("outbound_text")
    expected["message"]["metadata"] = "msg_1:reply"
    assert request.json() == expected
    assert receipt.provider_message_ids == ["m_FAKE00000001"]
    assert receipt.delivered is False


def test_long_text_is_split_in_order_into_several_messages(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    words = " ".join(f"w{n:04d}" for n in range(900))  # 5399 characters
    receipt = MESSENGER.send(reply({"type": "text", "text": words}), CONFIG, runtime)
    texts = [body["message"]["text"] for body in fake.sent()]
    assert len(texts) == 3 and all(len(text) <= 2000 for text in texts)
    assert " ".join(texts) == words
    assert receipt.provider_message_ids == ["m_FAKE00000001", "m_FAKE00000002", "m_FAKE00000003"]


def test_quick_replies_are_sent_natively_with_payloads(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "quick_replies",
        "text": "Which shipping speed?",
        "options": [
            {"title": "Standard", "payload": "SHIP_STANDARD"},
            {"title": "Express", "payload": "SHIP_EXPRESS"},
        ],
    }
    MESSENGER.send(reply(part), CONFIG, runtime)
    assert fake.sent() == [with_metadata(sample("outbound_quick_replies"))]


def test_quick_reply_titles_are_truncated_and_payloads_default_to_the_title(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    part = {"type": "quick_replies", "text": "Pick", "options": [{"title": "A" * 30}]}
    MESSENGER.send(reply(part), CONFIG, runtime)
    [option] = fake.sent()[0]["message"]["quick_replies"]
    assert option == {"content_type": "text", "title": "A" * 19 + "…", "payload": "A" * 30}


def test_more_than_thirteen_quick_replies_degrade_to_a_numbered_text(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    options = [{"title": f"Option {n}", "payload": f"O{n}"} for n in range(1, 15)]
    MESSENGER.send(
        reply({"type": "quick_replies", "text": "Pick", "options": options}), CONFIG, runtime
    )
    lines = "\n".join(["Pick", *(f"{n}. Option {n}" for n in range(1, 15))])
    assert fake.sent() == [text_body(lines)]


def test_media_is_sent_by_url_and_its_caption_follows_as_text(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    image = {
        "type": "media",
        "url": "https://cdn.example.com/fake/receipt-1234.png",
        "mime_type": "image/png",
        "caption": "Your receipt",
    }
    video = {"type": "media", "url": "https://cdn.example.com/a.mp4"}
    document = {"type": "media", "url": "https://cdn.example.com/a", "mime_type": "application/pdf"}
    receipt = MESSENGER.send(reply(image, video, document), CONFIG, runtime)
    sent = fake.sent()
    assert sent[:2] == [with_metadata(sample("outbound_image_by_url")), text_body("Your receipt")]
    assert [body["message"]["attachment"]["type"] for body in sent[2:]] == ["video", "file"]
    assert len(receipt.provider_message_ids) == 4


def test_a_card_with_buttons_and_no_image_is_a_button_template(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    card = {
        "type": "card",
        "title": "What would you like to do with order #1234?",
        "buttons": [
            {"title": "Track order", "payload": "TRACK_ORDER_1234"},
            {"title": "View receipt", "url": "https://shop.example.com/fake/orders/1234"},
        ],
    }
    MESSENGER.send(reply(card), CONFIG, runtime)
    assert fake.sent() == [with_metadata(sample("outbound_button_template"))]


def test_a_card_with_an_image_is_a_generic_template_with_truncated_titles(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    card = {
        "type": "card",
        "title": "T" * 100,
        "subtitle": "Ships today",
        "image_url": "https://cdn.example.com/shoe.png",
        "buttons": [{"title": "Buy", "payload": "BUY_1"}],
    }
    MESSENGER.send(reply(card), CONFIG, runtime)
    element = {
        "title": "T" * 79 + "…",
        "subtitle": "Ships today",
        "image_url": "https://cdn.example.com/shoe.png",
        "buttons": [{"type": "postback", "title": "Buy", "payload": "BUY_1"}],
    }
    template = {"type": "template", "payload": {"template_type": "generic", "elements": [element]}}
    assert fake.sent()[0]["message"] == {"attachment": template, "metadata": "msg_1:reply"}


def test_a_card_with_more_than_three_buttons_degrades_to_text(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    buttons = [{"title": f"B{n}", "payload": f"P{n}"} for n in range(1, 5)]
    buttons[3] = {"title": "Site", "url": "https://shop.example.com"}
    MESSENGER.send(reply({"type": "card", "title": "Menu", "buttons": buttons}), CONFIG, runtime)
    assert fake.sent() == [text_body("Menu\n1. B1\n2. B2\n3. B3\n4. Site https://shop.example.com")]


def test_a_buttons_part_is_a_button_template_of_links_postbacks_and_calls(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "buttons",
        "text": "What do you want to do next?",
        "buttons": [
            {"title": "Visit Messenger", "url": "https://www.messenger.com"},
            {"title": "Start Chatting", "payload": "DEVELOPER_DEFINED_PAYLOAD"},
            {"title": "Call us", "phone": "+15550100100"},
        ],
    }
    MESSENGER.send(reply(part), CONFIG, runtime)
    payload = {
        "template_type": "button",
        "text": "What do you want to do next?",
        "buttons": [
            {"type": "web_url", "title": "Visit Messenger", "url": "https://www.messenger.com"},
            {"type": "postback", "title": "Start Chatting", "payload": "DEVELOPER_DEFINED_PAYLOAD"},
            {"type": "phone_number", "title": "Call us", "payload": "+15550100100"},
        ],
    }
    template = {"type": "template", "payload": payload}
    assert fake.sent()[0]["message"] == {"attachment": template, "metadata": "msg_1:reply"}


def test_a_list_is_a_generic_template_carousel_after_its_text(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "list",
        "text": "We have the right hat for everyone.",
        "items": [
            {
                "title": "Welcome!",
                "subtitle": "Classic felt",
                "image_url": "https://cdn.example.com/hat.jpg",
                "buttons": [{"title": "View Website", "url": "https://shop.example.com/hat"}],
            },
            {"title": "Cap", "payload": "PICK_CAP"},
        ],
    }
    MESSENGER.send(reply(part), CONFIG, runtime)
    intro, carousel = fake.sent()
    assert intro == text_body("We have the right hat for everyone.")
    assert carousel["message"]["attachment"]["payload"] == {
        "template_type": "generic",
        "elements": [
            {
                "title": "Welcome!",
                "subtitle": "Classic felt",
                "image_url": "https://cdn.example.com/hat.jpg",
                "buttons": [
                    {
                        "type": "web_url",
                        "title": "View Website",
                        "url": "https://shop.example.com/hat",
                    }
                ],
            },
            {
                "title": "Cap",
                "buttons": [{"type": "postback", "title": "Cap", "payload": "PICK_CAP"}],
            },
        ],
    }


def test_a_location_is_its_map_link_and_a_file_a_file_attachment(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    location = {"type": "location", "latitude": -33.8568, "longitude": 151.2153, "name": "Opera"}
    file = {"type": "file", "url": "https://cdn.example.com/menu.pdf", "caption": "Our menu"}
    MESSENGER.send(reply(location, file), CONFIG, runtime)
    assert fake.sent()[0] == text_body(
        "Opera\nhttps://www.google.com/maps/search/?api=1&query=-33.8568,151.2153"
    )
    attachment = {"type": "file", "payload": {"url": file["url"], "is_reusable": False}}
    assert fake.sent()[1]["message"] == {"attachment": attachment, "metadata": "msg_1:reply"}
    assert fake.sent()[2] == text_body("Our menu")


@pytest.mark.parametrize(
    "payload",
    [
        {"template_type": "button", "text": "Pick", "buttons": []},
        {"template_type": "button", "text": "Pick",
         "buttons": [{"type": "web_url", "title": "A title of twenty-one", "url": "https://x.io"}]},
        {"template_type": "button", "text": "Call",
         "buttons": [{"type": "phone_number", "title": "Call", "payload": "5550100"}]},
        {"template_type": "generic", "elements": [{"title": "Only a title"}]},
        {"template_type": "generic", "elements": [{"title": "x", "subtitle": "y"}] * 11},
    ],
)  # fmt: skip
def test_the_fake_refuses_templates_graph_refuses(
    fake: FakeMessenger, payload: dict[str, Any]
) -> None:
    body = {
        "recipient": {"id": "7000000000000001"},
        "messaging_type": "RESPONSE",
        "message": {"attachment": {"type": "template", "payload": payload}},
    }
    answer = httpx.post(f"{fake.base_url}/me/messages?access_token={PAGE_TOKEN}", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 100
    assert answer.json()["error"]["message"].startswith("(#100) ")


def test_an_empty_reply_sends_nothing(fake: FakeMessenger, runtime: ChannelRuntime) -> None:
    receipt = MESSENGER.send(reply({"type": "text", "text": ""}), CONFIG, runtime)
    assert (fake.requests, receipt.provider_message_ids) == ([], [])


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("response_error_10_2018278_outside_window", "10/2018278"),
        ("response_error_100_2018001_no_matching_user", "100/2018001"),
        ("response_error_551_1545041_user_unavailable", "551/1545041"),
    ],
)
def test_permanent_graph_errors_are_rejected_with_their_code(
    fake: FakeMessenger, runtime: ChannelRuntime, name: str, code: str
) -> None:
    fake.fail_next(400, sample(name))
    with pytest.raises(SendRejected) as caught:
        MESSENGER.send(reply(text="hi"), CONFIG, runtime)
    assert caught.value.code == code


def test_a_rate_limit_is_rate_limited_with_the_retry_after_hint(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    fake.fail_next(400, sample("response_error_613_rate_limit"), retry_after=3)
    with pytest.raises(RateLimited) as caught:
        MESSENGER.send(reply(text="hi"), CONFIG, runtime)
    assert caught.value.retry_after == 3.0


def test_the_fakes_convenience_faults_classify_as_messenger_means_them(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    fake.fail_with_rate_limit(status=429)
    fake.fail_with_outside_window()
    fake.fail_with_user_unavailable()
    fake.fail_with_no_matching_user()
    fake.fail_with_server_error()
    fake.fail_next(400, {"error": {"message": "Temporary send message failure", "code": 1200}})
    expected = [RateLimited, SendRejected, SendRejected, SendRejected, SendFailed, SendFailed]
    for error in expected:
        with pytest.raises(error) as caught:
            MESSENGER.send(reply(text="hi"), CONFIG, runtime)
        assert type(caught.value) is error


def test_a_wrong_page_token_is_rejected_without_quoting_the_token(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    fake.page_token = "FAKE_the_right_token"
    with pytest.raises(SendRejected) as caught:
        MESSENGER.send(reply(text="hi"), CONFIG, runtime)
    assert caught.value.code == "190"
    assert PAGE_TOKEN not in str(caught.value)


def test_a_config_without_a_page_token_is_rejected_before_any_call(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    config = replace(CONFIG, secrets={"app_secret": APP_SECRET})
    with pytest.raises(SendRejected):
        MESSENGER.send(reply(text="hi"), config, runtime)
    assert fake.requests == []


def test_a_provider_that_hangs_fails_the_send_by_timeout(fake: FakeMessenger) -> None:
    urls = ProviderUrls(messenger_api=fake.base_url)
    fake.hang_next()
    with (
        closing(ChannelRuntime.create(urls, send_timeout=0.3)) as runtime,
        pytest.raises(SendFailed) as caught,
    ):
        MESSENGER.send(reply(text="hi"), CONFIG, runtime)
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)


def test_a_provider_that_cannot_be_reached_fails_the_send() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    urls = ProviderUrls(messenger_api=f"http://127.0.0.1:{port}")
    with closing(ChannelRuntime.create(urls)) as runtime, pytest.raises(SendFailed) as caught:
        MESSENGER.send(reply(text="hi"), CONFIG, runtime)
    assert isinstance(caught.value.__cause__, httpx.TransportError)


# --- typing indicator -------------------------------------------------------------------------


def test_typing_posts_the_typing_on_sender_action(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    MESSENGER.typing(ReplyAddress(PSID), CONFIG, runtime)
    [request] = fake.requests
    assert request.path == "/me/messages"
    assert request.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    assert request.json() == sample("outbound_sender_action_typing_on")
    assert fake.sender_actions() == [request.json()] and fake.sent() == []


def test_a_refused_or_hanging_typing_indicator_is_a_typed_error(
    fake: FakeMessenger, runtime: ChannelRuntime
) -> None:
    unavailable = graph_error(551, "(#551) This person isn't available right now.", 1545041)
    fake.fail_next(400, unavailable, indicators=True)
    with pytest.raises(SendRejected):
        MESSENGER.typing(ReplyAddress(PSID), CONFIG, runtime)
    fake.hang_next(indicators=True)
    with pytest.raises(SendFailed):
        MESSENGER.typing(ReplyAddress(PSID), CONFIG, replace(runtime, indicator_timeout=0.2))
