"""The WhatsApp adapter against Meta's sample payloads and the fake Cloud API."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format

from channels.base import RateLimited, SendFailed, SendRejected, VerificationFailed
from channels.runtime import ChannelRuntime, ProviderUrls
from channels.whatsapp import WHATSAPP
from core.envelopes import ChannelConfig, DeliveryState, Outbound, ReplyAddress, StatusUpdate
from protos import mcp_engine_pb2 as pb
from protos.engine_turn import reply_parts
from tests.fakes.whatsapp import (
    FakeWhatsApp,
    KnownTemplate,
    graph_error_body,
    inbound_text,
    signed_webhook,
    status_callback,
)

PAYLOADS = Path(__file__).resolve().parents[3] / "shared" / "channels" / "payloads" / "whatsapp"
APP_SECRET = "fake_app_secret_0123456789abcdef"
TOKEN = "FAKE_whatsapp_access_token"
NUMBER_ID = "200000000000001"
USER = "15550100099"
INBOUND_WAMID = "wamid.HBgLMTU1NTAxMDAwOTkVAgASGBRGQUtFMDAwMDAwMDAwMDAwMDAwMQA="
CONFIG = ChannelConfig(
    id="cc_whatsapp",
    tenant_id="t_shop",
    channel="whatsapp",
    account_id=NUMBER_ID,
    secrets={
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": "FAKE_VERIFY_TOKEN_abc123",
    },
)


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text())
    return data


def raw(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes()


def reply(
    *parts: dict[str, Any], text: str = "", reply_to: dict[str, str] | None = None
) -> Outbound:
    return Outbound(
        tenant_id="t_shop",
        message_id="msg_1",
        conversation_id="conv_1",
        recipient=USER,
        text=text,
        parts=list(parts),
        reply_to=reply_to or {"wamid": INBOUND_WAMID},
    )


def envelope(**message: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": USER} | message


@pytest.fixture
def fake() -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp(access_token=TOKEN) as server:
        yield server


@pytest.fixture
def runtime(fake: FakeWhatsApp) -> Iterator[ChannelRuntime]:
    runtime = ChannelRuntime.create(ProviderUrls(whatsapp_api=fake.base_url), send_timeout=2.0)
    yield runtime
    runtime.close()


def sent_bodies(fake: FakeWhatsApp) -> list[Any]:
    return [request.json() for request in fake.requests]


# --- handshake and signatures ---------------------------------------------------------------


def test_handshake_echoes_the_challenge_when_the_verify_token_matches() -> None:
    query = sample("verification_handshake.example")["request"]["query"]
    assert WHATSAPP.handshake(query, CONFIG) == "1158201444"


@pytest.mark.parametrize(
    "changed",
    [{"hub.verify_token": "FAKE_wrong"}, {"hub.mode": "unsubscribe"}, {"hub.challenge": ""}],
)
def test_handshake_with_a_wrong_token_or_mode_is_refused(changed: dict[str, str]) -> None:
    query = sample("verification_handshake.example")["request"]["query"] | changed
    with pytest.raises(VerificationFailed):
        WHATSAPP.handshake(query, CONFIG)


def test_verify_accepts_the_readme_test_vector(runtime: ChannelRuntime) -> None:
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    signature = "sha256=2177bcf823cd0bda67df0c7f787d899812fcbb85c6e6b219ede4925a907c7dd6"
    WHATSAPP.verify({"x-hub-signature-256": signature}, body, CONFIG, runtime)


def test_verify_accepts_meta_escaped_emoji_and_accents(runtime: ChannelRuntime) -> None:
    body, headers = signed_webhook(inbound_text("Grüße aus Köln, señor 😀 äöå"), APP_SECRET)
    assert b"\\u00fc" in body and b"\\ud83d\\ude00" in body
    WHATSAPP.verify(headers, body, CONFIG, runtime)
    assert WHATSAPP.parse(body, "application/json").messages[0].text.endswith("😀 äöå")


def test_verify_rejects_a_wrong_signature_tampered_body_missing_header_or_wrong_secret(
    runtime: ChannelRuntime,
) -> None:
    body, headers = signed_webhook(inbound_text("Café?"), APP_SECRET)
    other_secret = replace(CONFIG, secrets={"app_secret": "FAKE_other"})
    no_secret = replace(CONFIG, secrets={})
    attempts = [
        ({"x-hub-signature-256": "sha256=" + "0" * 64}, body, CONFIG),
        ({"x-hub-signature-256": "sha256=" + "é" * 64}, body, CONFIG),
        (headers, body.replace(b"Caf", b"Cab"), CONFIG),
        ({"x-hub-signature": headers["x-hub-signature"]}, body, CONFIG),
        ({}, body, CONFIG),
        (headers, body, other_secret),
        (headers, body, no_secret),
    ]
    for attempt_headers, attempt_body, config in attempts:
        with pytest.raises(VerificationFailed):
            WHATSAPP.verify(attempt_headers, attempt_body, config, runtime)


# --- parsing ---------------------------------------------------------------------------------


def test_text_message_parses_into_the_envelope() -> None:
    webhook = WHATSAPP.parse(raw("inbound_text"), "application/json")
    (message,) = webhook.messages
    assert webhook.account_ids == frozenset({NUMBER_ID})
    assert webhook.statuses == []
    assert message.provider_message_id == INBOUND_WAMID
    assert (message.account_id, message.user_id, message.user_name) == (
        NUMBER_ID,
        USER,
        "Test User",
    )
    assert (message.kind, message.text, dict(message.content)) == (
        "text",
        "Hi, has my order #1234 shipped?",
        {},
    )
    assert message.reply_to == {"wamid": INBOUND_WAMID}
    assert message.sent_at == datetime(2025, 6, 15, 15, 6, 41, tzinfo=UTC)


def test_image_parses_with_media_id_mime_type_and_caption() -> None:
    (message,) = WHATSAPP.parse(raw("inbound_image"), "application/json").messages
    assert (message.kind, message.text) == ("image", "Photo of the damaged box")
    assert message.content == {
        "media_id": "1000000000000001",
        "mime_type": "image/jpeg",
        "caption": "Photo of the damaged box",
    }


def test_documents_and_voice_notes_parse_as_media() -> None:
    payload = sample("inbound_image")
    item = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del item["image"]
    item["type"] = "document"
    item["document"] = {
        "id": "1000000000000002",
        "mime_type": "application/pdf",
        "filename": "r.pdf",
    }
    (document,) = WHATSAPP.parse(json.dumps(payload).encode(), "application/json").messages
    assert (document.kind, document.text) == ("media", "")
    assert document.content == {
        "media_id": "1000000000000002",
        "mime_type": "application/pdf",
        "filename": "r.pdf",
    }
    item["type"] = "audio"
    item["audio"] = {"id": "1000000000000003", "mime_type": "audio/ogg; codecs=opus", "voice": True}
    (voice,) = WHATSAPP.parse(json.dumps(payload).encode(), "application/json").messages
    assert voice.kind == "media"
    assert voice.content == {"media_id": "1000000000000003", "mime_type": "audio/ogg; codecs=opus"}


def test_location_parses_with_float_coordinates_and_place_name() -> None:
    (message,) = WHATSAPP.parse(raw("inbound_location"), "application/json").messages
    assert (message.kind, message.text) == ("location", "Example Coffee")
    assert message.content == {
        "latitude": 37.44221496582,
        "longitude": -122.16165924072,
        "name": "Example Coffee",
        "address": "1 Example Way, Springfield",
    }


def test_an_unnamed_location_reads_as_its_coordinates() -> None:
    payload = sample("inbound_location")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["location"] = {
        "latitude": 1.5,
        "longitude": -2.25,
    }
    (message,) = WHATSAPP.parse(json.dumps(payload).encode(), "application/json").messages
    assert message.text == "1.5,-2.25"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (
            "inbound_interactive_button_reply",
            {"type": "button_reply", "id": "confirm_order_1234", "title": "Confirm"},
        ),
        (
            "inbound_interactive_list_reply",
            {"type": "list_reply", "id": "ship_express", "title": "Express"},
        ),
        (
            "inbound_template_quick_reply_button",
            {"type": "quick_reply", "id": "CONFIRM_ORDER_1234", "title": "Yes, confirm"},
        ),
    ],
)
def test_button_list_and_template_replies_parse_as_interactive(
    name: str, content: dict[str, str]
) -> None:
    (message,) = WHATSAPP.parse(raw(name), "application/json").messages
    assert (message.kind, message.text, dict(message.content)) == (
        "interactive",
        content["title"],
        content,
    )
    assert message.reply_to == {"wamid": message.provider_message_id}


@pytest.mark.parametrize(
    ("name", "state", "at"),
    [
        ("inbound_status_sent", DeliveryState.SENT, 1750000010),
        ("inbound_status_delivered", DeliveryState.DELIVERED, 1750000011),
        ("inbound_status_read", DeliveryState.READ, 1750000012),
    ],
)
def test_status_callbacks_parse_into_status_updates(
    name: str, state: DeliveryState, at: int
) -> None:
    webhook = WHATSAPP.parse(raw(name), "application/json")
    assert webhook.messages == []
    assert webhook.account_ids == frozenset({NUMBER_ID})
    assert webhook.statuses == [
        StatusUpdate(
            account_id=NUMBER_ID,
            state=state,
            provider_message_id="wamid.HBgLMTU1NTAxMDAwOTkVAgASGBRGQUtFMDAwMDAwMDAwMDAwMDEwMQA=",
            at=datetime.fromtimestamp(at, tz=UTC),
        )
    ]


def test_a_failed_status_carries_the_graph_error() -> None:
    (status,) = WHATSAPP.parse(raw("inbound_status_failed_131047"), "application/json").statuses
    assert status.state is DeliveryState.FAILED
    assert status.provider_message_id == (
        "wamid.HBgLMTU1NTAxMDAwOTkVAgASGBRGQUtFMDAwMDAwMDAwMDAwMDEwMgA="
    )
    assert status.error == {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "details": "Message failed to send because more than 24 hours have passed since the "
        "customer last replied to this number.",
    }


def test_every_change_and_entry_is_read_and_every_account_named() -> None:
    payload = sample("inbound_text")
    second = copy.deepcopy(payload["entry"][0])
    second["changes"][0]["value"]["metadata"]["phone_number_id"] = "200000000000002"
    second["changes"].append(sample("inbound_status_read")["entry"][0]["changes"][0])
    payload["entry"].append(second)
    webhook = WHATSAPP.parse(json.dumps(payload).encode(), "application/json")
    assert [m.account_id for m in webhook.messages] == [NUMBER_ID, "200000000000002"]
    assert [s.state for s in webhook.statuses] == [DeliveryState.READ]
    assert webhook.account_ids == frozenset({NUMBER_ID, "200000000000002"})


def test_business_scoped_user_ids_stand_in_for_a_missing_from() -> None:
    payload = sample("inbound_text")
    value = payload["entry"][0]["changes"][0]["value"]
    del value["messages"][0]["from"]
    value["messages"][0]["from_user_id"] = "US.2081978709342942"
    value["contacts"] = [{"profile": {"name": "Scoped"}, "user_id": "US.2081978709342942"}]
    (message,) = WHATSAPP.parse(json.dumps(payload).encode(), "application/json").messages
    assert (message.user_id, message.user_name) == ("US.2081978709342942", "Scoped")


def test_other_fields_errors_and_unknown_message_types_are_ignored() -> None:
    payload = sample("inbound_text")
    value = payload["entry"][0]["changes"][0]["value"]
    value["errors"] = [{"code": 131000, "title": "Something went wrong"}]
    value["messages"] += [
        {
            "from": USER,
            "id": "wamid.FAKEreaction",
            "timestamp": "1",
            "type": "reaction",
            "reaction": {"message_id": INBOUND_WAMID, "emoji": "👍"},
        },
        {
            "from": USER,
            "id": "wamid.FAKEunsupported",
            "timestamp": "1",
            "type": "unsupported",
            "errors": [{"code": 131051}],
        },
        {
            "from": USER,
            "id": "wamid.FAKEflow",
            "timestamp": "1",
            "type": "interactive",
            "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}},
        },
    ]
    value["statuses"] = [{"id": "wamid.FAKEx", "status": "deleted", "timestamp": "1"}]
    payload["entry"][0]["changes"].append(
        {"field": "message_template_status_update", "value": {"event": "APPROVED"}}
    )
    webhook = WHATSAPP.parse(json.dumps(payload).encode(), "application/json")
    assert [m.provider_message_id for m in webhook.messages] == [INBOUND_WAMID]
    assert webhook.statuses == []
    assert webhook.account_ids == frozenset({NUMBER_ID})


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"object":"page","entry":[]}', b"\xff\xfe"])
def test_a_body_that_is_not_a_whatsapp_webhook_is_refused(body: bytes) -> None:
    with pytest.raises(VerificationFailed):
        WHATSAPP.parse(body, "application/json")


def test_the_fakes_webhook_builders_parse_like_the_samples() -> None:
    webhook = WHATSAPP.parse(signed_webhook(inbound_text("Hi", wamid="wamid.A"), "s")[0], "")
    assert [(m.provider_message_id, m.text, m.user_id) for m in webhook.messages] == [
        ("wamid.A", "Hi", USER)
    ]
    failed = status_callback("wamid.B", "failed", NUMBER_ID, error_code=131026)
    (status,) = WHATSAPP.parse(json.dumps(failed).encode(), "").statuses
    assert (status.state, status.error and status.error["code"]) == (DeliveryState.FAILED, 131026)


# --- sending ---------------------------------------------------------------------------------


def test_a_text_reply_is_sent_as_the_documented_body_with_the_bearer_token(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    expected = sample("outbound_text")
    receipt = WHATSAPP.send(reply(text=expected["text"]["body"]), CONFIG, runtime)
    (request,) = fake.requests
    assert (request.method, request.path) == ("POST", f"/{NUMBER_ID}/messages")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == expected
    assert receipt.provider_message_ids == [fake.sent[0].wamid]
    assert receipt.provider_message_ids[0].startswith("wamid.")
    assert receipt.delivered is False


def test_replies_quote_the_users_message_only_when_the_option_is_set(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    expected = sample("outbound_text_reply_with_context")
    quoting = replace(CONFIG, options={"quote_replies": "true"})
    text = {"type": "text", "text": expected["text"]["body"]}
    WHATSAPP.send(reply(text, text), quoting, runtime)
    WHATSAPP.send(reply(text), CONFIG, runtime)
    first, second, plain = sent_bodies(fake)
    assert first == expected
    assert "context" not in second  # only the first message of a reply quotes
    assert "context" not in plain


def test_long_text_is_split_in_order_at_4096_characters(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    words = " ".join(f"word{n}" for n in range(2000))  # 16,889 characters
    receipt = WHATSAPP.send(reply({"type": "text", "text": words}), CONFIG, runtime)
    bodies = [body["text"]["body"] for body in sent_bodies(fake)]
    assert len(bodies) == 5
    assert all(len(body) <= 4096 for body in bodies)
    assert " ".join(bodies) == words
    assert receipt.provider_message_ids == [sent.wamid for sent in fake.sent]


def test_up_to_three_quick_replies_become_reply_buttons(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    expected = sample("outbound_interactive_reply_buttons")
    del expected["interactive"]["footer"]
    options = [
        {"title": "Confirm", "payload": "confirm_order_1234"},
        {"title": "Cancel", "payload": "cancel_order_1234"},
    ]
    part = {
        "type": "quick_replies",
        "text": "Do you want to confirm order #1234?",
        "options": options,
    }
    WHATSAPP.send(reply(part), CONFIG, runtime)
    assert sent_bodies(fake) == [expected]


def test_button_titles_are_truncated_and_ids_capped(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    options = [{"title": "A very long answer to give", "payload": "p" * 300}]
    WHATSAPP.send(reply({"type": "quick_replies", "text": "", "options": options}), CONFIG, runtime)
    (body,) = sent_bodies(fake)
    (button,) = body["interactive"]["action"]["buttons"]
    assert button["reply"] == {"id": "p" * 256, "title": "A very long answer …"}
    assert body["interactive"]["body"] == {"text": "1. A very long answer to give"}


def test_four_to_ten_quick_replies_become_a_list(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    options = [{"title": f"Option {n}", "payload": f"opt_{n}"} for n in range(1, 10)]
    options.append({"title": "Overnight express with tracking", "payload": "opt_10"})
    part = {"type": "quick_replies", "text": "Pick a shipping speed.", "options": options}
    labelled = replace(CONFIG, options={"list_button_label": "Choose"})
    WHATSAPP.send(reply(part), labelled, runtime)
    rows = [{"id": f"opt_{n}", "title": f"Option {n}"} for n in range(1, 10)]
    rows.append(
        {
            "id": "opt_10",
            "title": "Overnight express with …",
            "description": "Overnight express with tracking",
        }
    )
    assert sent_bodies(fake) == [
        envelope(
            type="interactive",
            interactive={
                "type": "list",
                "body": {"text": "Pick a shipping speed."},
                "action": {"button": "Choose", "sections": [{"rows": rows}]},
            },
        )
    ]


def test_more_than_ten_quick_replies_degrade_to_numbered_text(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    options = [{"title": f"Size {n}", "payload": f"size_{n}"} for n in range(1, 12)]
    WHATSAPP.send(
        reply({"type": "quick_replies", "text": "Size?", "options": options}), CONFIG, runtime
    )
    (body,) = sent_bodies(fake)
    lines = "\n".join(f"{n}. Size {n}" for n in range(1, 12))
    assert body == envelope(type="text", text={"preview_url": False, "body": f"Size?\n{lines}"})


def test_a_link_option_follows_the_reply_buttons_as_a_cta_url_button(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    options = [
        {"title": "Track", "payload": "track"},
        {"title": "Help centre", "url": "https://help.example.com"},
    ]
    WHATSAPP.send(
        reply({"type": "quick_replies", "text": "Next?", "options": options}), CONFIG, runtime
    )
    buttons, link = sent_bodies(fake)
    assert buttons["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "track", "title": "Track"}}
    ]
    assert link == envelope(
        type="interactive",
        interactive={
            "type": "cta_url",
            "body": {"text": "Help centre"},
            "action": {
                "name": "cta_url",
                "parameters": {"display_text": "Help centre", "url": "https://help.example.com"},
            },
        },
    )


def test_an_interactive_body_over_1024_characters_goes_ahead_as_text(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    text = " ".join(f"word{n}" for n in range(300))  # about 2,100 characters
    options = [{"title": "Yes", "payload": "yes"}]
    WHATSAPP.send(
        reply({"type": "quick_replies", "text": text, "options": options}), CONFIG, runtime
    )
    lead, buttons = sent_bodies(fake)
    body = buttons["interactive"]["body"]["text"]
    assert len(body) <= 1024
    assert f"{lead['text']['body']} {body}" == text


def test_an_image_by_url_is_sent_as_the_documented_body(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    expected = sample("outbound_image_by_url")
    part = {
        "type": "media",
        "url": expected["image"]["link"],
        "mime_type": "image/png",
        "caption": "Your receipt",
    }
    WHATSAPP.send(reply(part), CONFIG, runtime)
    assert sent_bodies(fake) == [expected]


def test_media_kind_follows_the_mime_type_or_the_url(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    parts = [
        {"type": "media", "url": "https://cdn.example.com/clip.mp4", "caption": "Unboxing"},
        {
            "type": "media",
            "url": "https://cdn.example.com/note",
            "mime_type": "audio/ogg",
            "caption": "Listen",
        },
        {"type": "media", "url": "https://cdn.example.com/files/Invoice%2012.pdf?sig=1"},
    ]
    WHATSAPP.send(reply(*parts), CONFIG, runtime)
    assert sent_bodies(fake) == [
        envelope(type="video", video={"link": parts[0]["url"], "caption": "Unboxing"}),
        envelope(type="audio", audio={"link": parts[1]["url"]}),
        envelope(type="text", text={"preview_url": False, "body": "Listen"}),
        envelope(type="document", document={"link": parts[2]["url"], "filename": "Invoice 12.pdf"}),
    ]


def test_a_card_is_reply_buttons_under_its_image_then_its_link_as_a_cta_url(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    card = {
        "type": "card",
        "title": "Trail shoe",
        "subtitle": "Size 42, in stock",
        "image_url": "https://cdn.example.com/shoe.jpg",
        "buttons": [
            {"title": "Buy now", "payload": "buy_shoe"},
            {"title": "Details", "url": "https://shop.example.com/shoe"},
        ],
    }
    receipt = WHATSAPP.send(reply(card), CONFIG, runtime)
    assert sent_bodies(fake) == [
        envelope(
            type="interactive",
            interactive={
                "type": "button",
                "header": {"type": "image", "image": {"link": card["image_url"]}},
                "body": {"text": "Trail shoe\nSize 42, in stock"},
                "action": {
                    "buttons": [{"type": "reply", "reply": {"id": "buy_shoe", "title": "Buy now"}}]
                },
            },
        ),
        envelope(
            type="interactive",
            interactive={
                "type": "cta_url",
                "body": {"text": "Details"},
                "action": {
                    "name": "cta_url",
                    "parameters": {
                        "display_text": "Details",
                        "url": "https://shop.example.com/shoe",
                    },
                },
            },
        ),
    ]
    assert len(receipt.provider_message_ids) == 2


def test_a_card_with_more_than_three_choices_sends_its_image_ahead_of_a_list(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    buttons = [{"title": f"Size {n}", "payload": f"size_{n}"} for n in range(40, 44)]
    card = {"type": "card", "title": "Trail shoe", "image_url": "https://cdn.example.com/s.jpg"}
    WHATSAPP.send(reply(card | {"buttons": buttons}), CONFIG, runtime)
    image, choices = sent_bodies(fake)
    assert image == envelope(
        type="image", image={"link": card["image_url"], "caption": "Trail shoe"}
    )
    assert choices["interactive"]["type"] == "list"
    assert choices["interactive"]["body"] == {"text": "Trail shoe"}
    rows = choices["interactive"]["action"]["sections"][0]["rows"]
    assert rows == [{"id": f"size_{n}", "title": f"Size {n}"} for n in range(40, 44)]


def test_a_card_of_links_is_one_cta_url_message_and_its_other_links_follow_as_text(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    card = {
        "type": "card",
        "title": "Store hours",
        "subtitle": "9-17 weekdays",
        "buttons": [
            {"title": "Map", "url": "https://maps.example.com/store"},
            {"title": "Website", "url": "https://store.example.com"},
            {"title": "Call us", "phone": "+15550100100"},
        ],
    }
    WHATSAPP.send(reply(card), CONFIG, runtime)
    assert sent_bodies(fake) == [
        envelope(
            type="interactive",
            interactive={
                "type": "cta_url",
                "body": {"text": "Store hours\n9-17 weekdays"},
                "action": {
                    "name": "cta_url",
                    "parameters": {"display_text": "Map", "url": "https://maps.example.com/store"},
                },
            },
        ),
        envelope(
            type="text",
            text={
                "preview_url": False,
                "body": "1. Website https://store.example.com\n2. Call us +15550100100",
            },
        ),
    ]


def test_a_card_without_buttons_or_image_degrades_to_one_text(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    card = {"type": "card", "title": "Store hours", "subtitle": "9-17 weekdays"}
    WHATSAPP.send(reply(card), CONFIG, runtime)
    (body,) = sent_bodies(fake)
    assert body["text"]["body"] == "Store hours\n9-17 weekdays"


def test_a_template_part_is_sent_as_the_documented_template(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    expected = sample("outbound_template")
    template = expected["template"]
    part = {
        "type": "template",
        "name": template["name"],
        "language": "en_US",
        "components": template["components"],
    }
    receipt = WHATSAPP.send(reply(part), CONFIG, runtime)
    assert sent_bodies(fake) == [expected]
    assert receipt.provider_message_ids == [fake.sent[0].wamid]


def test_a_buttons_part_of_postbacks_is_reply_buttons(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "buttons",
        "text": "Keep the order?",
        "buttons": [{"title": "Yes", "payload": "KEEP"}, {"title": "No", "payload": "DROP"}],
    }
    WHATSAPP.send(reply(part), CONFIG, runtime)
    assert sent_bodies(fake) == [
        envelope(
            type="interactive",
            interactive={
                "type": "button",
                "body": {"text": "Keep the order?"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "KEEP", "title": "Yes"}},
                        {"type": "reply", "reply": {"id": "DROP", "title": "No"}},
                    ]
                },
            },
        )
    ]


def test_a_buttons_part_with_one_link_is_one_cta_url_message(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "buttons",
        "text": "Tap the button below to see available dates.",
        "buttons": [{"title": "See Dates", "url": "https://example.com/schedule"}],
    }
    WHATSAPP.send(reply(part), CONFIG, runtime)
    assert sent_bodies(fake) == [
        envelope(
            type="interactive",
            interactive={
                "type": "cta_url",
                "body": {"text": "Tap the button below to see available dates."},
                "action": {
                    "name": "cta_url",
                    "parameters": {
                        "display_text": "See Dates",
                        "url": "https://example.com/schedule",
                    },
                },
            },
        )
    ]


def test_a_list_of_choices_is_a_list_message_with_a_row_per_item(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "list",
        "text": "Choose a shipping speed for order #1234.",
        "button": "Choose option",
        "items": [
            {"title": "Standard", "subtitle": "3-5 business days", "payload": "ship_standard"},
            {
                "title": "Express",
                "subtitle": "Next day delivery",
                "buttons": [{"title": "Pick", "payload": "ship_express"}],
            },
        ],
    }
    WHATSAPP.send(reply(part), CONFIG, runtime)
    rows = [
        {"id": "ship_standard", "title": "Standard", "description": "3-5 business days"},
        {"id": "ship_express", "title": "Express", "description": "Next day delivery"},
    ]
    assert sent_bodies(fake) == [
        envelope(
            type="interactive",
            interactive={
                "type": "list",
                "body": {"text": "Choose a shipping speed for order #1234."},
                "action": {"button": "Choose option", "sections": [{"rows": rows}]},
            },
        )
    ]


def test_a_list_with_images_or_links_is_sent_as_one_card_per_item(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "list",
        "text": "Two trail shoes:",
        "items": [
            {
                "title": "Ridge",
                "image_url": "https://cdn.example.com/ridge.jpg",
                "buttons": [{"title": "Buy", "payload": "BUY_RIDGE"}],
            },
            {"title": "Canyon", "buttons": [{"title": "View", "url": "https://x.example/c"}]},
        ],
    }
    WHATSAPP.send(reply(part), CONFIG, runtime)
    intro, ridge, canyon = sent_bodies(fake)
    assert intro["text"]["body"] == "Two trail shoes:"
    assert ridge["interactive"]["type"] == "button"
    assert ridge["interactive"]["header"] == {
        "type": "image",
        "image": {"link": "https://cdn.example.com/ridge.jpg"},
    }
    assert canyon["interactive"]["type"] == "cta_url"
    assert canyon["interactive"]["body"] == {"text": "Canyon"}


def test_a_list_of_more_than_ten_items_degrades_to_numbered_text(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    items = [{"title": f"Slot {n}", "payload": f"slot_{n}"} for n in range(1, 12)]
    WHATSAPP.send(reply({"type": "list", "text": "When?", "items": items}), CONFIG, runtime)
    (body,) = sent_bodies(fake)
    lines = "\n".join(f"{n}. Slot {n}" for n in range(1, 12))
    assert body["text"]["body"] == f"When?\n{lines}"


def test_a_location_part_is_a_native_location_message(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "location",
        "latitude": 37.44216251868683,
        "longitude": -122.16153582049394,
        "name": "Philz Coffee",
        "address": "101 Forest Ave, Palo Alto, CA 94301",
    }
    WHATSAPP.send(reply(part), CONFIG, runtime)
    assert sent_bodies(fake) == [
        envelope(
            type="location",
            location={
                "latitude": 37.44216251868683,
                "longitude": -122.16153582049394,
                "name": "Philz Coffee",
                "address": "101 Forest Ave, Palo Alto, CA 94301",
            },
        )
    ]


def test_a_location_on_the_equator_is_still_a_location(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    WHATSAPP.send(reply({"type": "location", "latitude": 0.0, "longitude": 0.0}), CONFIG, runtime)
    assert sent_bodies(fake) == [
        envelope(type="location", location={"latitude": 0, "longitude": 0})
    ]


def test_a_file_part_is_a_document_with_its_filename_and_caption(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "file",
        "url": "https://cdn.example.com/files/inv-12.pdf",
        "filename": "Invoice 12.pdf",
        "mime_type": "application/pdf",
        "caption": "Your invoice",
    }
    WHATSAPP.send(reply(part), CONFIG, runtime)
    assert sent_bodies(fake) == [
        envelope(
            type="document",
            document={"link": part["url"], "caption": "Your invoice", "filename": "Invoice 12.pdf"},
        )
    ]


def test_a_template_from_the_engine_is_sent_with_its_parameters(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    template = sample("outbound_template")["template"] | {"language": "en_US"}
    response = json_format.ParseDict({"parts": [{"template": template}]}, pb.GenerateResponse())
    WHATSAPP.send(reply(*reply_parts(response)), CONFIG, runtime)
    assert sent_bodies(fake) == [sample("outbound_template")]


def test_an_unknown_template_or_a_wrong_parameter_count_is_refused_with_graphs_code(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    template = sample("outbound_template")["template"]
    unknown = {"type": "template", "name": "no_such_template", "language": "en_US"}
    body_only = [c for c in template["components"] if c["type"] != "header"]
    short = {"type": "template", "name": template["name"], "language": "en_US"}
    for part, code in ((unknown, 132001), (short | {"components": body_only}, 132000)):
        with pytest.raises(SendRejected) as refused:
            WHATSAPP.send(reply(part), CONFIG, runtime)
        assert refused.value.code == str(code)
    fake.templates["no_such_template"] = KnownTemplate(frozenset({"en_US"}), {})
    WHATSAPP.send(reply(unknown), CONFIG, runtime)
    assert [sent.body["template"]["name"] for sent in fake.sent] == ["no_such_template"]


def test_a_reply_with_nothing_to_show_is_rejected_without_a_request(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    with pytest.raises(SendRejected):
        WHATSAPP.send(reply(text="  "), CONFIG, runtime)
    assert fake.requests == []


# --- errors ----------------------------------------------------------------------------------


def test_throughput_limit_with_retry_after_is_rate_limited(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    fake.fail_next(400, sample("response_error_130429_throughput"), retry_after=3)
    with pytest.raises(RateLimited) as caught:
        WHATSAPP.send(reply(text="Hello"), CONFIG, runtime)
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize("status", [400, 429])
def test_pair_rate_limit_is_rate_limited_whatever_the_http_status(
    fake: FakeWhatsApp, runtime: ChannelRuntime, status: int
) -> None:
    fake.fail_next(status, sample("response_error_131056_pair_rate_limit"))
    with pytest.raises(RateLimited) as caught:
        WHATSAPP.send(reply(text="Hello"), CONFIG, runtime)
    assert caught.value.retry_after is None


def test_the_fakes_rate_limit_shortcut_carries_its_hint(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    fake.fail_with_rate_limit(code=131056, retry_after=7)
    with pytest.raises(RateLimited) as caught:
        WHATSAPP.send(reply(text="Hello"), CONFIG, runtime)
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("response_error_190_token_expired", 401, "190/463"),
        ("response_error_100_invalid_parameter", 400, "100"),
    ],
)
def test_expired_token_and_invalid_parameter_are_rejected_with_their_code(
    fake: FakeWhatsApp, runtime: ChannelRuntime, name: str, status: int, code: str
) -> None:
    fake.fail_next(status, sample(name))
    with pytest.raises(SendRejected) as caught:
        WHATSAPP.send(reply(text="Hello"), CONFIG, runtime)
    assert caught.value.code == code


@pytest.mark.parametrize("code", [131047, 131026, 131050, 131030, 131021, 100])
def test_permanent_graph_codes_are_rejected_even_behind_a_5xx(
    fake: FakeWhatsApp, runtime: ChannelRuntime, code: int
) -> None:
    fake.fail_with_permanent_error(code)
    fake.fail_with_permanent_error(code, status=500)
    for _ in range(2):
        with pytest.raises(SendRejected) as caught:
            WHATSAPP.send(reply(text="Hello"), CONFIG, runtime)
        assert caught.value.code == str(code)


def test_a_server_error_fails_for_retry(fake: FakeWhatsApp, runtime: ChannelRuntime) -> None:
    fake.fail_with_server_error()
    fake.fail_next(502, b"<html>Bad gateway</html>")
    for _ in range(2):
        with pytest.raises(SendFailed) as caught:
            WHATSAPP.send(reply(text="Hello"), CONFIG, runtime)
        assert not isinstance(caught.value, RateLimited)


def test_a_hanging_api_fails_for_retry_after_the_send_timeout(fake: FakeWhatsApp) -> None:
    fake.hang_next()
    runtime = ChannelRuntime.create(ProviderUrls(whatsapp_api=fake.base_url), send_timeout=0.2)
    try:
        with pytest.raises(SendFailed) as caught:
            WHATSAPP.send(reply(text="Hello"), CONFIG, runtime)
    finally:
        runtime.close()
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)


def test_an_unreachable_api_fails_for_retry() -> None:
    runtime = ChannelRuntime.create(ProviderUrls(whatsapp_api="http://127.0.0.1:9"), send_timeout=1)
    try:
        with pytest.raises(SendFailed):
            WHATSAPP.send(reply(text="Hello"), CONFIG, runtime)
    finally:
        runtime.close()


def test_a_wrong_token_is_rejected_without_showing_the_token(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    wrong = replace(CONFIG, secrets={"access_token": "FAKE_stale_token"})
    with pytest.raises(SendRejected) as caught:
        WHATSAPP.send(reply(text="Hello"), wrong, runtime)
    assert caught.value.code == "190"
    assert "FAKE_stale_token" not in str(caught.value)
    assert fake.sent == []


def test_a_config_without_an_access_token_is_rejected_without_a_request(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    tokenless = replace(CONFIG, secrets={})
    with pytest.raises(SendRejected):
        WHATSAPP.send(reply(text="Hello"), tokenless, runtime)
    assert fake.requests == []


def test_a_success_without_a_message_id_fails_for_retry(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    fake.fail_next(200, {"messaging_product": "whatsapp", "messages": []})
    with pytest.raises(SendFailed):
        WHATSAPP.send(reply(text="Hello"), CONFIG, runtime)


def interactive(kind: str, action: dict[str, Any], text: str = "Pick") -> dict[str, Any]:
    return envelope(
        type="interactive", interactive={"type": kind, "body": {"text": text}, "action": action}
    )


def reply_buttons(*titles: str) -> dict[str, Any]:
    return {"buttons": [{"type": "reply", "reply": {"id": t, "title": t}} for t in titles]}


@pytest.mark.parametrize(
    "body",
    [
        envelope(type="text", text={"preview_url": False, "body": "x" * 4097}),
        interactive("button", reply_buttons("a", "b", "c", "d")),
        interactive("button", reply_buttons("A title of 21 letters")),
        interactive("cta_url", {"name": "cta_url", "parameters": {"display_text": "Open"}}),
        interactive(
            "cta_url", {"name": "cta_url", "parameters": {"display_text": "O", "url": ""}}
        ),
        interactive(
            "list",
            {"button": "Pick", "sections": [{"rows": [{"id": f"{n}", "title": "r"}
                                                      for n in range(11)]}]},
        ),
        interactive("carousel", {}),
        envelope(type="location", location={"name": "Nowhere"}),
        envelope(type="document", document={"filename": "a.pdf"}),
    ],
    ids=["text-4097", "4-buttons", "title-21", "cta-no-url", "cta-empty-url", "11-rows",
         "unknown-interactive", "location-no-coordinates", "document-no-link"],
)  # fmt: skip
def test_the_fake_refuses_bodies_that_break_whatsapp_limits(
    fake: FakeWhatsApp, body: dict[str, Any]
) -> None:
    answer = httpx.post(
        f"{fake.base_url}/{NUMBER_ID}/messages",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 100
    assert answer.json()["error"]["error_data"]["details"]
    assert fake.sent == []


# --- typing indicator -------------------------------------------------------------------------


def test_typing_marks_the_users_message_read_with_a_typing_indicator(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    WHATSAPP.typing(ReplyAddress(USER, {"wamid": INBOUND_WAMID}), CONFIG, runtime)
    [request] = fake.requests
    assert request.path == f"/{NUMBER_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": INBOUND_WAMID,
        "typing_indicator": {"type": "text"},
    }
    assert fake.read_marks == [request.json()] and fake.sent == []


def test_typing_failures_are_typed_and_a_message_without_wamid_is_refused(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    to = ReplyAddress(USER, {"wamid": INBOUND_WAMID})
    fake.fail_next(500, graph_error_body(131000), indicators=True)
    with pytest.raises(SendFailed):
        WHATSAPP.typing(to, CONFIG, runtime)
    fake.hang_next(indicators=True)
    with pytest.raises(SendFailed):
        WHATSAPP.typing(to, CONFIG, replace(runtime, indicator_timeout=0.2))
    with pytest.raises(SendRejected):
        WHATSAPP.typing(ReplyAddress(USER), CONFIG, runtime)
    assert len(fake.requests) == 2
