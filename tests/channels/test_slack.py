"""The Slack adapter against Slack's documented payloads and a fake Web API."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from channels.base import RateLimited, SendFailed, SendRejected, VerificationFailed
from channels.runtime import ChannelRuntime, ProviderUrls
from channels.slack import SLACK, verify_signature
from core.envelopes import ChannelConfig, InboundMessage, Outbound, Webhook
from tests.fakes.slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    block_actions,
    block_actions_form,
    event_message_im,
    signed_request,
    signed_webhook,
    url_verification,
)

PAYLOADS = Path(__file__).resolve().parents[3] / "shared" / "channels" / "payloads" / "slack"
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
CONFIG = ChannelConfig(
    id="cfg_1",
    tenant_id="t_1",
    channel="slack",
    account_id="T0FAKETEAM1",
    secrets={"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET},
)


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


def parse_event(payload: dict[str, Any]) -> Webhook:
    return SLACK.parse(json.dumps(payload).encode(), JSON_TYPE)


def parse_interaction(payload: dict[str, Any]) -> Webhook:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return SLACK.parse(body, FORM_TYPE)


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def runtime(slack: FakeSlack) -> Iterator[ChannelRuntime]:
    runtime = ChannelRuntime.create(ProviderUrls(slack_api=slack.base_url), send_timeout=2.0)
    yield runtime
    runtime.close()


def outbound(parts: list[dict[str, Any]], text: str = "", **reply_to: Any) -> Outbound:
    return Outbound(
        tenant_id="t_1",
        message_id="msg_1",
        conversation_id="conv_1",
        recipient="U0FAKEUSR01",
        text=text,
        parts=parts,
        reply_to=reply_to or {"channel": "D0FAKEDM001"},
    )


# --- verification ------------------------------------------------------------------------------

VECTOR_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfm"
    b"ibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
VECTOR_HEADERS = {
    "x-slack-request-timestamp": "1531420618",
    "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
}


def test_signature_matches_slacks_documented_test_vector() -> None:
    verify_signature(VECTOR_HEADERS, VECTOR_BODY, "8f742231b10e8888abcd99yyyzzz85a5", 1531420618)


@pytest.mark.parametrize("skew", [-300, 300])
def test_timestamps_at_the_edge_of_the_five_minute_window_are_accepted(skew: int) -> None:
    verify_signature(
        VECTOR_HEADERS, VECTOR_BODY, "8f742231b10e8888abcd99yyyzzz85a5", 1531420618 + skew
    )


@pytest.mark.parametrize("skew", [-301, 301, 86_400])
def test_timestamps_outside_the_window_are_rejected_either_way(skew: int) -> None:
    with pytest.raises(VerificationFailed, match="5-minute"):
        verify_signature(
            VECTOR_HEADERS, VECTOR_BODY, "8f742231b10e8888abcd99yyyzzz85a5", 1531420618 + skew
        )


@pytest.mark.parametrize("timestamp", ["9" * 5000, "1" * 13, "\uff11" * 10, "-1531420618"])
def test_timestamps_that_are_not_unix_seconds_are_rejected_as_malformed(timestamp: str) -> None:
    headers = {**VECTOR_HEADERS, "x-slack-request-timestamp": timestamp}
    with pytest.raises(VerificationFailed, match="malformed"):
        verify_signature(headers, VECTOR_BODY, "8f742231b10e8888abcd99yyyzzz85a5", 1531420618)


def test_verify_accepts_a_signed_body_with_emoji_and_accents(runtime: ChannelRuntime) -> None:
    payload = event_message_im(
        "T0FAKETEAM1", "D0FAKEDM001", "U0FAKEUSR01", "Ça va? 🚚 Où est ma commande?", "1.2", "Ev1"
    )
    body, headers = signed_webhook(payload)
    assert "Ça va? 🚚".encode() in body
    SLACK.verify(lower(headers), body, CONFIG, runtime)


def test_verify_accepts_a_signed_interaction_form(runtime: ChannelRuntime) -> None:
    body, headers = signed_webhook(block_actions("T0FAKETEAM1", "C1", "U1", "yes", "Oui ✅"))
    assert headers["Content-Type"] == FORM_TYPE
    SLACK.verify(lower(headers), body, CONFIG, runtime)


def test_verify_rejects_a_wrong_signature(runtime: ChannelRuntime) -> None:
    body, headers = signed_webhook(url_verification("abc"))
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    with pytest.raises(VerificationFailed):
        SLACK.verify(lower(headers), body, CONFIG, runtime)


def test_verify_rejects_a_tampered_body(runtime: ChannelRuntime) -> None:
    body, headers = signed_webhook(url_verification("abc"))
    with pytest.raises(VerificationFailed):
        SLACK.verify(lower(headers), body.replace(b"abc", b"abd"), CONFIG, runtime)


def test_verify_rejects_a_body_signed_with_another_secret(runtime: ChannelRuntime) -> None:
    body, headers = signed_webhook(url_verification("abc"), "FAKEotherSECRET")
    with pytest.raises(VerificationFailed):
        SLACK.verify(lower(headers), body, CONFIG, runtime)


def test_verify_rejects_a_replayed_request_signed_ten_minutes_ago(runtime: ChannelRuntime) -> None:
    body, headers = signed_webhook(url_verification("abc"), timestamp=int(time.time()) - 600)
    with pytest.raises(VerificationFailed):
        SLACK.verify(lower(headers), body, CONFIG, runtime)


@pytest.mark.parametrize(
    "missing",
    [
        ("X-Slack-Signature",),
        ("X-Slack-Request-Timestamp",),
        ("X-Slack-Signature", "X-Slack-Request-Timestamp"),
    ],
)
def test_verify_rejects_a_request_without_its_signature_headers(
    runtime: ChannelRuntime, missing: tuple[str, ...]
) -> None:
    body, headers = signed_webhook(url_verification("abc"))
    for name in missing:
        del headers[name]
    with pytest.raises(VerificationFailed):
        SLACK.verify(lower(headers), body, CONFIG, runtime)


def test_verify_rejects_a_signature_of_another_scheme(runtime: ChannelRuntime) -> None:
    body, headers = signed_webhook(url_verification("abc"))
    headers["X-Slack-Signature"] = headers["X-Slack-Signature"].replace("v0=", "v1=")
    with pytest.raises(VerificationFailed):
        SLACK.verify(lower(headers), body, CONFIG, runtime)


def test_verify_fails_closed_when_the_config_has_no_signing_secret(
    runtime: ChannelRuntime,
) -> None:
    body, headers = signed_webhook(url_verification("abc"), "")
    config = ChannelConfig("c", "t", "slack", "T0FAKETEAM1", secrets={"bot_token": BOT_TOKEN})
    with pytest.raises(VerificationFailed):
        SLACK.verify(lower(headers), body, config, runtime)


def test_a_redelivery_is_signed_like_the_first_delivery(runtime: ChannelRuntime) -> None:
    body, _ = signed_webhook(url_verification("abc"))
    headers = signed_request(body, retry_num=2)
    assert headers["X-Slack-Retry-Num"] == "2"
    assert headers["X-Slack-Retry-Reason"] == "http_timeout"
    SLACK.verify(lower(headers), body, CONFIG, runtime)


def test_slack_has_no_get_handshake() -> None:
    with pytest.raises(VerificationFailed):
        SLACK.handshake({"hub.challenge": "x"}, CONFIG)


# --- parsing -----------------------------------------------------------------------------------


def test_url_verification_is_answered_with_its_challenge_and_names_no_account() -> None:
    webhook = parse_event(sample("url_verification.json"))
    challenge = "FAKEchallenge3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFX"
    assert webhook == Webhook(response={"challenge": challenge}, account_ids=frozenset())


def test_a_direct_message_parses_into_a_text_message_answered_in_the_dm() -> None:
    webhook = parse_event(sample("event_message_im.json"))
    assert webhook.account_ids == {"T0FAKETEAM1"}
    assert webhook.event_id == "Ev0FAKE00001"
    assert webhook.messages == [
        InboundMessage(
            provider_message_id="D0FAKEDM001:1750000001.000100",
            account_id="T0FAKETEAM1",
            user_id="U0FAKEUSR01",
            kind="text",
            text="Hi, has my order #1234 shipped?",
            reply_to={"channel": "D0FAKEDM001"},
            sent_at=datetime(2025, 6, 15, 15, 6, 41, 100, tzinfo=UTC),
        )
    ]


def test_a_mention_in_a_thread_drops_the_bot_mention_and_answers_in_that_thread() -> None:
    webhook = parse_event(sample("event_app_mention_in_thread.json"))
    assert webhook.event_id == "Ev0FAKE00002"
    [message] = webhook.messages
    assert message.text == "what is the status of #1234?"
    assert message.kind == "text"
    assert message.provider_message_id == "C0FAKECHAN1:1750000002.000200"
    assert message.reply_to == {"channel": "C0FAKECHAN1", "thread_ts": "1750000000.000050"}


def test_a_top_level_mention_is_answered_in_a_thread_under_it() -> None:
    payload = sample("event_app_mention_in_thread.json")
    del payload["event"]["thread_ts"], payload["event"]["parent_user_id"]
    [message] = parse_event(payload).messages
    assert message.reply_to == {"channel": "C0FAKECHAN1", "thread_ts": "1750000002.000200"}


def test_a_mention_of_someone_else_first_is_kept_in_the_text() -> None:
    payload = sample("event_app_mention_in_thread.json")
    payload["event"]["text"] = "<@U0OTHER001> ask <@U0FAKEBOT01>"
    [message] = parse_event(payload).messages
    assert message.text == "<@U0OTHER001> ask <@U0FAKEBOT01>"


def test_slack_escapes_in_message_text_are_undone() -> None:
    payload = sample("event_message_im.json")
    payload["event"]["text"] = "is 3 &lt; 4 &amp;&amp; 5 &gt; 2?"
    [message] = parse_event(payload).messages
    assert message.text == "is 3 < 4 && 5 > 2?"


def test_a_shared_image_parses_into_an_image_message_captioned_by_its_text() -> None:
    [message] = parse_event(sample("event_message_file_share_image.json")).messages
    assert message.kind == "image"
    assert message.text == "Photo of the damaged box"
    assert message.provider_message_id == "D0FAKEDM001:1750000003.000300"
    assert message.content == {
        "media_id": "F0FAKEFILE1",
        "url": "https://files.slack.com/files-pri/T0FAKETEAM1-F0FAKEFILE1/box.png",
        "mime_type": "image/png",
        "caption": "Photo of the damaged box",
        "filename": "box.png",
    }


def test_a_shared_document_without_text_is_media_named_by_its_file() -> None:
    payload = sample("event_message_file_share_image.json")
    payload["event"]["text"] = ""
    payload["event"]["files"][0].update(mimetype="application/pdf", name="invoice.pdf")
    [message] = parse_event(payload).messages
    assert message.kind == "media"
    assert message.text == "invoice.pdf"
    assert "caption" not in message.content
    assert message.content["mime_type"] == "application/pdf"


def test_a_button_click_parses_into_an_interactive_message_threaded_under_the_buttons() -> None:
    payload = sample("interaction_block_actions.payload.json")
    webhook = parse_interaction(payload)
    assert webhook.account_ids == {"T0FAKETEAM1"}
    assert webhook.event_id is None
    assert webhook.messages == [
        InboundMessage(
            provider_message_id="C0FAKECHAN1:1750000011.000001",
            account_id="T0FAKETEAM1",
            user_id="U0FAKEUSR01",
            kind="interactive",
            text="Confirm",
            content={"type": "block_action", "id": "confirm_order_1234", "title": "Confirm"},
            reply_to={"channel": "C0FAKECHAN1", "thread_ts": "1750000010.000500"},
            user_name="test.user",
            sent_at=datetime(2025, 6, 15, 15, 6, 51, 1, tzinfo=UTC),
            clicked={
                "channel": "C0FAKECHAN1",
                "ts": "1750000010.000500",
                "text": "Confirm order #1234?",
                "blocks": payload["message"]["blocks"],
            },
        )
    ]


def test_a_click_on_an_ephemeral_message_names_no_message_to_update() -> None:
    payload = sample("interaction_block_actions.payload.json")
    payload["container"]["is_ephemeral"] = True
    [message] = parse_interaction(payload).messages
    assert message.clicked is None
    assert message.content == {
        "type": "block_action",
        "id": "confirm_order_1234",
        "title": "Confirm",
    }


def test_a_button_click_in_a_dm_is_answered_in_the_dm() -> None:
    body = block_actions_form(
        team_id="T0FAKETEAM1", channel="D0FAKEDM001", user="U1", value="yes", title="Yes"
    )
    [message] = SLACK.parse(body, FORM_TYPE + "; charset=utf-8").messages
    assert message.reply_to == {"channel": "D0FAKEDM001"}
    assert message.content == {"type": "block_action", "id": "yes", "title": "Yes"}


def test_a_menu_choice_parses_into_the_selected_option() -> None:
    payload = sample("interaction_block_actions.payload.json")
    payload["actions"] = [
        {
            "type": "static_select",
            "action_id": "size",
            "selected_option": {"text": {"type": "plain_text", "text": "Large"}, "value": "L"},
            "action_ts": "1750000012.000001",
        }
    ]
    [message] = parse_interaction(payload).messages
    assert message.content == {"type": "block_action", "id": "L", "title": "Large"}


def test_following_a_link_button_is_not_a_message() -> None:
    payload = sample("interaction_block_actions.payload.json")
    del payload["actions"][0]["value"]
    payload["actions"][0]["url"] = "https://example.com/track"
    webhook = parse_interaction(payload)
    assert webhook.messages == []
    assert webhook.account_ids == {"T0FAKETEAM1"}


def test_an_app_rate_limited_notice_is_ignored_but_names_its_team() -> None:
    assert parse_event(sample("event_app_rate_limited.json")) == Webhook(
        account_ids=frozenset({"T0FAKETEAM1"})
    )


@pytest.mark.parametrize(
    "change",
    [
        {"bot_id": "B0FAKEBOT01"},
        {"subtype": "bot_message"},
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"user": "U0FAKEBOT01"},  # the bot user named in authorizations
        {"channel_type": "channel"},  # channel chatter without a mention
        {"type": "reaction_added"},
    ],
)
def test_bot_echoes_edits_and_chatter_are_dropped(change: dict[str, Any]) -> None:
    payload = sample("event_message_im.json")
    payload["event"].update(change)
    webhook = parse_event(payload)
    assert webhook.messages == []
    assert webhook.account_ids == {"T0FAKETEAM1"}
    assert webhook.event_id == "Ev0FAKE00001"


def test_a_mention_and_a_message_event_for_one_message_share_a_dedupe_id() -> None:
    mention = sample("event_app_mention_in_thread.json")
    as_message = copy.deepcopy(mention)
    as_message["event"].update(type="message", channel_type="im")
    as_message["event_id"] = "Ev0FAKE00099"
    [first] = parse_event(mention).messages
    [second] = parse_event(as_message).messages
    assert first.provider_message_id == second.provider_message_id


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not json", JSON_TYPE),
        (b"[1, 2]", JSON_TYPE),
        (b"\xff\xfe", JSON_TYPE),
        (b"other=1", FORM_TYPE),
        (b'{"type": "url_verification"}', JSON_TYPE),
    ],
)
def test_a_body_that_is_not_a_slack_webhook_is_refused(body: bytes, content_type: str) -> None:
    with pytest.raises(VerificationFailed):
        SLACK.parse(body, content_type)


# --- showing a choice on the clicked message ---------------------------------------------------


def clicked_reply(slack: FakeSlack, runtime: ChannelRuntime) -> dict[str, Any]:
    """Post a question with two buttons to the fake; the click's ``clicked`` for it."""
    question = {
        "type": "quick_replies",
        "text": "Shall I book it?",
        "options": [{"title": "Yes", "payload": "YES"}, {"title": "No", "payload": "NO"}],
    }
    [ts] = SLACK.send(outbound([question]), CONFIG, runtime).provider_message_ids
    posted = slack.messages[("D0FAKEDM001", ts)]
    body = block_actions_form(
        team_id="T0FAKETEAM1",
        channel="D0FAKEDM001",
        user="U1",
        value="YES",
        title="Yes",
        message_ts=ts,
        message_text=posted["text"],
        blocks=posted["blocks"],
    )
    [click] = SLACK.parse(body, FORM_TYPE).messages
    assert click.clicked is not None
    return dict(click.clicked)


def test_a_choice_replaces_the_clicked_messages_buttons_with_a_checked_line(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    clicked = clicked_reply(slack, runtime)
    [section, _buttons] = clicked["blocks"]
    SLACK.show_choice(clicked, "Yes", CONFIG, runtime)
    [request] = slack.requests_to("/chat.update")
    assert request.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    line = {"type": "context", "elements": [{"type": "plain_text", "text": "✓ Yes", "emoji": True}]}
    assert request.json() == {
        "channel": "D0FAKEDM001",
        "ts": clicked["ts"],
        "text": clicked["text"],
        "blocks": [section, line],
    }
    assert slack.messages[("D0FAKEDM001", clicked["ts"])]["blocks"] == [section, line]


def test_a_choice_title_is_plain_text_so_it_cannot_mention_anyone(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    clicked = clicked_reply(slack, runtime)
    SLACK.show_choice(clicked, "<!channel> yes", CONFIG, runtime)
    [body] = slack.updated
    assert body["blocks"][-1]["elements"] == [
        {"type": "plain_text", "text": "✓ <!channel> yes", "emoji": True}
    ]


def test_a_clicked_message_that_is_gone_is_refused_as_message_not_found(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    clicked = {"channel": "D0FAKEDM001", "ts": "1700000099.000100", "text": "", "blocks": []}
    with pytest.raises(SendRejected) as refused:
        SLACK.show_choice(clicked, "Yes", CONFIG, runtime)
    assert refused.value.code == "message_not_found"


def test_a_message_someone_else_wrote_is_refused_as_cant_update_message(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    slack.add_user_message("C0FAKECHAN1", "1700000042.000100")
    clicked = {"channel": "C0FAKECHAN1", "ts": "1700000042.000100", "text": "hi", "blocks": []}
    with pytest.raises(SendRejected) as refused:
        SLACK.show_choice(clicked, "Yes", CONFIG, runtime)
    assert refused.value.code == "cant_update_message"


def test_a_throttled_update_is_rate_limited_with_slacks_hint(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    clicked = clicked_reply(slack, runtime)
    slack.fail_with_rate_limit(retry_after=7)
    with pytest.raises(RateLimited) as limited:
        SLACK.show_choice(clicked, "Yes", CONFIG, runtime)
    assert limited.value.retry_after == 7
    assert slack.messages[("D0FAKEDM001", clicked["ts"])]["blocks"] == clicked["blocks"]


# --- sending -----------------------------------------------------------------------------------


def test_a_text_reply_posts_one_message_with_the_bot_token(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    expected = sample("outbound_chat_postMessage_text.json")
    del expected["unfurl_links"]  # Parley keeps Slack's default unfurling
    receipt = SLACK.send(outbound([{"type": "text", "text": expected["text"]}]), CONFIG, runtime)
    [request] = slack.requests
    assert request.method == "POST"
    assert request.path == "/chat.postMessage"
    assert request.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.json() == expected
    assert receipt.provider_message_ids == ["1700000000.000100"]
    assert receipt.delivered is True


def test_a_reply_to_a_threaded_message_goes_to_its_thread(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    expected = sample("outbound_chat_postMessage_thread_reply.json")
    del expected["reply_broadcast"]  # false is Slack's default
    reply_to = {"channel": expected["channel"], "thread_ts": expected["thread_ts"]}
    SLACK.send(outbound([], text=expected["text"], **reply_to), CONFIG, runtime)
    assert slack.posted == [expected]


def test_without_reply_to_the_recipient_is_the_channel(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    message = Outbound("t_1", "msg_1", "conv_1", "U0FAKEUSR01", "hello", [])
    SLACK.send(message, CONFIG, runtime)
    assert slack.posted == [{"channel": "U0FAKEUSR01", "text": "hello"}]


def test_long_text_is_split_into_ordered_messages(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    paragraphs = [f"Paragraph {n}. " + "word " * 300 for n in range(1, 9)]
    text = "\n\n".join(paragraphs)
    receipt = SLACK.send(outbound([{"type": "text", "text": text}]), CONFIG, runtime)
    chunks = [body["text"] for body in slack.posted]
    assert len(chunks) == 4
    assert all(len(chunk) <= 4000 for chunk in chunks)
    assert " ".join(" ".join(chunks).split()) == " ".join(text.split())
    assert receipt.provider_message_ids == [
        "1700000000.000100",
        "1700000000.000200",
        "1700000000.000300",
        "1700000000.000400",
    ]


def test_reply_text_is_escaped_so_it_cannot_notify_a_channel(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    SLACK.send(outbound([{"type": "text", "text": "<!channel> Q&A at 5 > 4"}]), CONFIG, runtime)
    assert slack.posted[0]["text"] == "&lt;!channel&gt; Q&amp;A at 5 &gt; 4"


def test_quick_replies_become_a_section_and_buttons_carrying_their_payloads(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "quick_replies",
        "text": "Confirm order #1234?",
        "options": [
            {"title": "Confirm", "payload": "confirm_order_1234"},
            {"title": "Cancel", "payload": "cancel_order_1234"},
            {"title": "Track it", "url": "https://example.com/track/1234"},
        ],
    }
    SLACK.send(outbound([part], channel="C0FAKECHAN1", thread_ts="1.5"), CONFIG, runtime)
    assert slack.posted == [
        {
            "channel": "C0FAKECHAN1",
            "thread_ts": "1.5",
            "text": "Confirm order #1234?",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": "Confirm order #1234?"}},
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "option_1",
                            "text": {"type": "plain_text", "text": "Confirm"},
                            "value": "confirm_order_1234",
                        },
                        {
                            "type": "button",
                            "action_id": "option_2",
                            "text": {"type": "plain_text", "text": "Cancel"},
                            "value": "cancel_order_1234",
                        },
                        {
                            "type": "button",
                            "action_id": "option_3",
                            "text": {"type": "plain_text", "text": "Track it"},
                            "url": "https://example.com/track/1234",
                        },
                    ],
                },
            ],
        }
    ]


def test_quick_reply_titles_are_cut_to_slacks_button_limit_and_buttons_grouped_by_25(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    options = [{"title": f"Option {n} " + "x" * 80, "payload": f"p{n}"} for n in range(30)]
    SLACK.send(outbound([{"type": "quick_replies", "options": options}]), CONFIG, runtime)
    [body] = slack.posted
    first, second = body["blocks"]
    assert [len(first["elements"]), len(second["elements"])] == [25, 5]
    assert len(first["elements"][0]["text"]["text"]) == 75
    assert body["text"].startswith("1. Option 0")


def test_a_long_question_is_sent_first_and_its_buttons_follow_the_last_chunk(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    text = " ".join(f"w{n}" for n in range(900))
    part = {"type": "quick_replies", "text": text, "options": [{"title": "OK", "payload": "ok"}]}
    receipt = SLACK.send(outbound([part]), CONFIG, runtime)
    first, last = slack.posted
    assert "blocks" not in first
    assert first["text"].startswith("w0 ")
    assert last["blocks"][0]["text"]["text"].endswith("w899")
    assert len(last["blocks"][0]["text"]["text"]) <= 3000
    assert len(receipt.provider_message_ids) == 2


def test_a_card_becomes_header_section_image_and_buttons(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    card = {
        "type": "card",
        "title": "Order #1234",
        "subtitle": "Shipped <today>",
        "image_url": "https://cdn.example.com/fake/box.png",
        "buttons": [
            {"title": "Track", "url": "https://example.com/t/1234"},
            {"title": "Return it", "payload": "return_1234"},
        ],
    }
    SLACK.send(outbound([card]), CONFIG, runtime)
    assert slack.posted == [
        {
            "channel": "D0FAKEDM001",
            "text": (
                "Order #1234\nShipped &lt;today&gt;\nhttps://cdn.example.com/fake/box.png\n"
                "1. Track https://example.com/t/1234\n2. Return it"
            ),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Order #1234"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "Shipped &lt;today&gt;"}},
                {
                    "type": "image",
                    "image_url": "https://cdn.example.com/fake/box.png",
                    "alt_text": "Order #1234",
                },
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "option_1",
                            "text": {"type": "plain_text", "text": "Track"},
                            "url": "https://example.com/t/1234",
                        },
                        {
                            "type": "button",
                            "action_id": "option_2",
                            "text": {"type": "plain_text", "text": "Return it"},
                            "value": "return_1234",
                        },
                    ],
                },
            ],
        }
    ]


def test_an_image_is_posted_as_an_image_block_titled_by_its_caption(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    expected = sample("outbound_chat_postMessage_image_block.json")
    part = {
        "type": "media",
        "url": expected["blocks"][0]["image_url"],
        "mime_type": "image/png",
        "caption": "Your receipt",
    }
    SLACK.send(outbound([part], channel="C0FAKECHAN1"), CONFIG, runtime)
    expected["blocks"][0].update(
        alt_text="Your receipt", title={"type": "plain_text", "text": "Your receipt"}
    )
    assert slack.posted == [expected]


def test_media_slack_cannot_embed_by_url_degrades_to_a_text_link(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    part = {"type": "media", "url": "https://cdn.example.com/a.pdf", "caption": "Invoice"}
    SLACK.send(outbound([part]), CONFIG, runtime)
    assert slack.posted == [
        {"channel": "D0FAKEDM001", "text": "Invoice https://cdn.example.com/a.pdf"}
    ]


def button(n: int, title: str, **action: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": f"option_{n}",
        "text": {"type": "plain_text", "text": title},
        **action,
    }


def test_a_buttons_part_is_a_section_and_url_and_value_buttons_with_calls_listed(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "buttons",
        "text": "Your table is booked.",
        "buttons": [
            {"title": "Directions", "url": "https://example.com/where"},
            {"title": "Cancel", "payload": "CANCEL_BOOKING"},
            {"title": "Call us", "phone": "+15550100100"},
        ],
    }
    SLACK.send(outbound([part]), CONFIG, runtime)
    assert slack.posted == [
        {
            "channel": "D0FAKEDM001",
            "text": "Your table is booked.",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": "Your table is booked."}},
                {
                    "type": "actions",
                    "elements": [
                        button(1, "Directions", url="https://example.com/where"),
                        button(2, "Cancel", value="CANCEL_BOOKING"),
                    ],
                },
                {"type": "section", "text": {"type": "mrkdwn", "text": "1. Call us +15550100100"}},
            ],
        }
    ]


def test_a_list_is_a_section_per_item_with_its_image_and_its_buttons(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "list",
        "text": "Two trail shoes:",
        "items": [
            {
                "title": "Ridge",
                "subtitle": "Light & fast",
                "image_url": "https://cdn.example.com/ridge.jpg",
                "buttons": [{"title": "View", "url": "https://shop.example.com/ridge"}],
            },
            {"title": "Canyon", "payload": "PICK_CANYON"},
        ],
    }
    SLACK.send(outbound([part]), CONFIG, runtime)
    [posted] = slack.posted
    assert posted["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Two trail shoes:"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*Ridge*\nLight &amp; fast"},
            "accessory": {
                "type": "image",
                "image_url": "https://cdn.example.com/ridge.jpg",
                "alt_text": "Ridge",
            },
        },
        {
            "type": "actions",
            "elements": [button(1, "View", url="https://shop.example.com/ridge")],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Canyon*"}},
        {"type": "actions", "elements": [button(1, "Canyon", value="PICK_CANYON")]},
    ]
    assert posted["text"].startswith("Two trail shoes:\n1. Ridge — Light &amp; fast")


def test_a_location_is_a_map_link_and_a_file_a_text_link(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    location = {"type": "location", "latitude": 48.8584, "longitude": 2.2945, "name": "Tour Eiffel"}
    file = {"type": "file", "url": "https://cdn.example.com/menu.pdf", "filename": "menu.pdf"}
    SLACK.send(outbound([location, file]), CONFIG, runtime)
    assert [body["text"] for body in slack.posted] == [
        "Tour Eiffel\nhttps://www.google.com/maps/search/?api=1&amp;query=48.8584,2.2945",
        "menu.pdf https://cdn.example.com/menu.pdf",
    ]


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([{"type": "carousel"}], "/blocks/0/type"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "/blocks/0/text/text"),
        ([{"type": "actions", "elements": [button(1, "Go", url="ftp://x")]}],
         "/blocks/0/elements/0/url"),
        ([{"type": "actions", "elements": [button(1, "x" * 76)]}],
         "/blocks/0/elements/0/text/text"),
        ([{"type": "image", "image_url": "https://x.example/i.png"}], "/blocks/0/alt_text"),
        ([{"type": "divider"}] * 51, "/blocks"),
    ],
)  # fmt: skip
def test_the_fake_refuses_blocks_slack_refuses_as_invalid_blocks(
    slack: FakeSlack, blocks: list[dict[str, Any]], pointer: str
) -> None:
    answer = httpx.post(
        f"{slack.base_url}/chat.postMessage",
        json={"channel": "C0FAKECHAN1", "text": "x", "blocks": blocks},
        headers={"Authorization": f"Bearer {BOT_TOKEN}"},
    ).json()
    assert answer["ok"] is False
    assert answer["error"] == "invalid_blocks"
    assert any(error.endswith(f"[json-pointer:{pointer}]") for error in answer["errors"])
    assert answer["response_metadata"]["messages"] == [f"[ERROR] {e}" for e in answer["errors"]]


def test_invalid_blocks_are_rejected_for_good(slack: FakeSlack, runtime: ChannelRuntime) -> None:
    card = {"type": "card", "buttons": [{"title": "Open", "url": "mailto:shop@example.com"}]}
    with pytest.raises(SendRejected) as refused:
        SLACK.send(outbound([card]), CONFIG, runtime)
    assert refused.value.code == "invalid_blocks"


def test_parts_are_posted_in_order_one_message_each(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    parts = [
        {"type": "text", "text": "First"},
        {"type": "media", "url": "https://cdn.example.com/p.jpg"},
        {"type": "text", "text": "Last"},
    ]
    receipt = SLACK.send(outbound(parts, text="ignored"), CONFIG, runtime)
    posted = slack.posted
    assert [body["text"] for body in posted] == ["First", "https://cdn.example.com/p.jpg", "Last"]
    assert posted[1]["blocks"][0]["alt_text"] == "image"
    assert len(receipt.provider_message_ids) == 3


# --- send errors -------------------------------------------------------------------------------


def test_a_rate_limit_raises_rate_limited_with_slacks_retry_after(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    slack.fail_next(429, sample("response_error_ratelimited.json"), retry_after=7)
    with pytest.raises(RateLimited) as caught:
        SLACK.send(outbound([], text="hi"), CONFIG, runtime)
    assert caught.value.retry_after == 7.0


def test_a_retry_after_given_as_an_http_date_reaches_rate_limited_in_seconds(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    in_an_hour = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    slack.fail_next(429, sample("response_error_ratelimited.json"), retry_after=in_an_hour)
    with pytest.raises(RateLimited) as caught:
        SLACK.send(outbound([], text="hi"), CONFIG, runtime)
    assert caught.value.retry_after is not None
    assert 3000 < caught.value.retry_after <= 3600


def test_the_fakes_rate_limit_helper_is_classified_as_rate_limited(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    slack.fail_with_rate_limit(retry_after=3)
    with pytest.raises(RateLimited) as caught:
        SLACK.send(outbound([], text="hi"), CONFIG, runtime)
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize(
    "name",
    [
        "response_error_channel_not_found.json",
        "response_error_not_in_channel.json",
        "response_error_invalid_auth.json",
    ],
)
def test_permanent_slack_errors_are_rejected_with_slacks_code(
    slack: FakeSlack, runtime: ChannelRuntime, name: str
) -> None:
    body = sample(name)
    slack.fail_next(200, body)
    with pytest.raises(SendRejected) as caught:
        SLACK.send(outbound([], text="hi"), CONFIG, runtime)
    assert caught.value.code == body["error"]


def test_a_wrong_bot_token_is_rejected_as_invalid_auth_without_leaking_it(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    config = ChannelConfig(
        "c", "t", "slack", "T0FAKETEAM1", secrets={"bot_token": "xoxb-FAKE-wrong"}
    )
    with pytest.raises(SendRejected) as caught:
        SLACK.send(outbound([], text="hi"), config, runtime)
    assert caught.value.code == "invalid_auth"
    assert "xoxb" not in str(caught.value)


def test_a_config_without_a_bot_token_is_rejected_before_any_request(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    config = ChannelConfig("c", "t", "slack", "T0FAKETEAM1")
    with pytest.raises(SendRejected):
        SLACK.send(outbound([], text="hi"), config, runtime)
    assert slack.requests == []


@pytest.mark.parametrize("error", ["internal_error", "fatal_error", "service_unavailable"])
def test_slacks_own_transient_errors_are_worth_retrying(
    slack: FakeSlack, runtime: ChannelRuntime, error: str
) -> None:
    slack.fail_with_error(error)
    with pytest.raises(SendFailed) as caught:
        SLACK.send(outbound([], text="hi"), CONFIG, runtime)
    assert not isinstance(caught.value, RateLimited)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_worth_retrying(
    slack: FakeSlack, runtime: ChannelRuntime, status: int
) -> None:
    slack.fail_with_server_error(status)
    with pytest.raises(SendFailed) as caught:
        SLACK.send(outbound([], text="hi"), CONFIG, runtime)
    assert not isinstance(caught.value, RateLimited)


def test_a_hanging_slack_fails_the_send_by_timeout(slack: FakeSlack) -> None:
    slack.hang_next()
    runtime = ChannelRuntime.create(ProviderUrls(slack_api=slack.base_url), send_timeout=0.3)
    try:
        with pytest.raises(SendFailed) as caught:
            SLACK.send(outbound([], text="hi"), CONFIG, runtime)
    finally:
        runtime.close()
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)


def test_an_unreachable_slack_fails_the_send() -> None:
    with FakeSlack() as gone:
        url = gone.base_url
    runtime = ChannelRuntime.create(ProviderUrls(slack_api=url), send_timeout=1.0)
    try:
        with pytest.raises(SendFailed) as caught:
            SLACK.send(outbound([], text="hi"), CONFIG, runtime)
    finally:
        runtime.close()
    assert isinstance(caught.value.__cause__, httpx.TransportError)


def test_a_failure_midway_stops_the_reply_at_the_failing_message(
    slack: FakeSlack, runtime: ChannelRuntime
) -> None:
    parts = [{"type": "text", "text": word} for word in ("one", "two", "three")]
    slack.fail_next(200, {"ok": True, "channel": "D0FAKEDM001", "ts": "1.1"})
    slack.fail_with_error("msg_too_long")
    with pytest.raises(SendRejected) as caught:
        SLACK.send(outbound(parts), CONFIG, runtime)
    assert caught.value.code == "msg_too_long"
    assert len(slack.requests) == 2
