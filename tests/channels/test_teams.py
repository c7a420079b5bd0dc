"""The Teams adapter against the Bot Framework's documented payloads and a fake login service
and Bot Connector."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from channels.base import RateLimited, SendFailed, SendRejected, VerificationFailed
from channels.runtime import ChannelRuntime, ProviderUrls
from channels.teams import TEAMS
from channels.teams_format import TEXT_LIMIT
from core.envelopes import (
    ChannelConfig,
    DeliveryState,
    InboundMessage,
    Outbound,
    Receipt,
    ReplyAddress,
    StatusUpdate,
    Webhook,
)
from core.ttl_cache import TtlCache
from tests.fakes.teams import (
    APP_ID,
    APP_PASSWORD,
    USER_ID,
    FakeTeams,
    card_execute,
    card_submit,
    conversation_update,
    installation_update,
    meeting_event,
    message_activity,
    read_receipt,
)

PAYLOADS = Path(__file__).resolve().parents[3] / "shared" / "channels" / "payloads" / "teams"
JSON_TYPE = "application/json"
TENANT = "0fa4e000-0000-4000-8000-0000000000aa"
CONVERSATION = "a:1FAKEpersonalConversationId0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
CHANNEL_THREAD = "19:FAKEchannel0123456789abcdef0123456@thread.tacv2;messageid=1750000000050"
BOT = {"id": f"28:{APP_ID}", "name": "Example Shop Bot"}
USER = {"id": USER_ID, "name": "Test User"}
CONFIG = ChannelConfig(
    id="cfg_1",
    tenant_id="t_1",
    channel="teams",
    account_id=APP_ID,
    options={"azure_tenant": TENANT},
    secrets={"app_password": APP_PASSWORD},
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


def parse(activity: dict[str, Any]) -> Webhook:
    return TEAMS.parse(json.dumps(activity).encode(), JSON_TYPE)


@pytest.fixture
def fake() -> Iterator[FakeTeams]:
    with FakeTeams() as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(fake: FakeTeams, clock: Clock) -> Iterator[ChannelRuntime]:
    urls = ProviderUrls(
        teams_openid_metadata=fake.openid_metadata_url, teams_token_url=fake.token_url_template
    )
    runtime = ChannelRuntime(
        http=httpx.Client(), urls=urls, cache=TtlCache(clock=clock), send_timeout=5
    )
    yield runtime
    runtime.close()


def reply_to(fake: FakeTeams, **overrides: Any) -> dict[str, Any]:
    return {
        "service_url": fake.service_url,
        "conversation_id": CONVERSATION,
        "activity_id": "1750000000101",
        "bot_id": BOT["id"],
        "bot_name": BOT["name"],
        "user_id": USER_ID,
        "user_name": "Test User",
        "tenant_id": TENANT,
        "conversation_type": "personal",
        **overrides,
    }


def outbound(
    fake: FakeTeams, parts: list[dict[str, Any]], text: str = "", **where: Any
) -> Outbound:
    return Outbound(
        tenant_id="t_1",
        message_id="msg_1",
        conversation_id="conv_1",
        recipient=USER_ID,
        text=text,
        parts=parts,
        reply_to=reply_to(fake, **where),
    )


def reply_envelope(**fields: Any) -> dict[str, Any]:
    """What every reply activity carries besides its content."""
    return {
        "type": "message",
        "from": BOT,
        "recipient": USER,
        "conversation": {"id": CONVERSATION},
        "replyToId": "1750000000101",
        **fields,
    }


# -- verify ---------------------------------------------------------------------------------


def verify(fake: FakeTeams, runtime: ChannelRuntime, activity: dict[str, Any], token: str) -> None:
    headers = {"authorization": f"Bearer {token}", "content-type": JSON_TYPE}
    TEAMS.verify(headers, json.dumps(activity).encode(), CONFIG, runtime)


def hello(fake: FakeTeams, text: str = "Café au lait? ☕🎉 Ça marche.") -> dict[str, Any]:
    return message_activity(APP_ID, text, CONVERSATION, "1750000000101", fake.service_url)


def test_a_connector_token_over_a_body_with_emoji_and_accents_is_accepted(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    body, headers = fake.signed_webhook(hello(fake))
    assert "☕".encode() in body

    TEAMS.verify(headers, body, CONFIG, runtime)


def test_a_token_within_the_five_minute_clock_skew_is_accepted(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url, exp_offset=-240))
    verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url, nbf_offset=240))


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param({"iss": "https://sts.windows.net/evil/"}, id="wrong issuer"),
        pytest.param({"aud": "0fa4e000-0000-4000-8000-000000000999"}, id="wrong audience"),
        pytest.param({"exp_offset": -400}, id="expired"),
        pytest.param({"nbf_offset": 400}, id="not yet valid"),
        pytest.param({"sign_with_other_key": True}, id="signed with another key"),
        pytest.param({"kid": "no-such-kid"}, id="unknown key id"),
    ],
)
def test_a_spoiled_token_is_rejected(
    fake: FakeTeams, runtime: ChannelRuntime, spoil: dict[str, Any]
) -> None:
    token = fake.mint_token(APP_ID, fake.service_url, **spoil)
    with pytest.raises(VerificationFailed):
        verify(fake, runtime, hello(fake), token)


def test_a_token_naming_another_service_url_is_rejected(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    token = fake.mint_token(APP_ID, "https://smba.trafficmanager.net/emea/")
    with pytest.raises(VerificationFailed, match="serviceurl"):
        verify(fake, runtime, hello(fake), token)


def test_an_activity_whose_service_url_was_tampered_with_is_rejected(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    body, headers = fake.signed_webhook(hello(fake))
    tampered = body.replace(fake.service_url.encode(), b"https://attacker.example/")
    with pytest.raises(VerificationFailed):
        TEAMS.verify(headers, tampered, CONFIG, runtime)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no authorization header"),
        pytest.param({"authorization": "Bearer "}, id="empty bearer"),
        pytest.param({"authorization": "Basic dXNlcjpwYXNz"}, id="not a bearer"),
        pytest.param({"authorization": "Bearer not.a.jwt"}, id="not a jwt"),
    ],
)
def test_a_request_without_a_usable_bearer_token_is_rejected(
    fake: FakeTeams, runtime: ChannelRuntime, headers: dict[str, str]
) -> None:
    with pytest.raises(VerificationFailed):
        TEAMS.verify(headers, json.dumps(hello(fake)).encode(), CONFIG, runtime)


def test_a_token_signed_with_a_shared_secret_is_rejected(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    claims = {"iss": "https://api.botframework.com", "aud": APP_ID, "exp": 9999999999}
    token = jwt.encode(
        {**claims, "serviceurl": fake.service_url},
        "a-shared-secret-of-32-bytes-or-more!",
        algorithm="HS256",
        headers={"kid": fake.kid},
    )
    with pytest.raises(VerificationFailed):
        verify(fake, runtime, hello(fake), token)


def test_a_key_not_endorsed_for_the_activitys_channel_is_rejected(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    activity = {**hello(fake), "channelId": "webchat"}
    with pytest.raises(VerificationFailed, match="endorsed"):
        verify(fake, runtime, activity, fake.mint_token(APP_ID, fake.service_url))


def test_a_config_without_an_app_id_accepts_nothing(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    body, headers = fake.signed_webhook(hello(fake))
    with pytest.raises(VerificationFailed):
        TEAMS.verify(headers, body, ChannelConfig("c", "t", "teams", account_id=""), runtime)


def test_a_body_that_is_not_an_activity_is_rejected(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    headers = {"authorization": f"Bearer {fake.mint_token(APP_ID, fake.service_url)}"}
    with pytest.raises(VerificationFailed):
        TEAMS.verify(headers, b"not json", CONFIG, runtime)


def test_signing_keys_are_fetched_once_and_cached(fake: FakeTeams, runtime: ChannelRuntime) -> None:
    for _ in range(3):
        verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url))

    assert [r.path for r in fake.key_requests] == ["/openid-metadata", "/keys"]


def test_signing_keys_are_fetched_again_after_a_day(
    fake: FakeTeams, runtime: ChannelRuntime, clock: Clock
) -> None:
    verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url))
    clock.now += 24 * 3600 + 1
    verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url))

    assert len(fake.key_requests) == 4


def test_an_unknown_key_id_refreshes_the_key_set_once_then_is_rejected(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url))
    for _ in range(2):
        with pytest.raises(VerificationFailed, match="unknown key"):
            verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url, kid="x"))

    assert [r.path for r in fake.key_requests] == ["/openid-metadata", "/keys", "/keys"]


def test_a_rotated_signing_key_is_picked_up_without_waiting_for_the_cache(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url))
    fake.add_key()

    verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url))


def test_a_forged_key_id_whose_refetch_fails_leaves_the_good_keys_cached(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url))
    fake.fail_next(503, times=2)  # the key endpoint is down from here on
    with pytest.raises(VerificationFailed, match="signing keys"):
        verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url, kid="x"))

    verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url))
    assert [r.path for r in fake.key_requests] == ["/openid-metadata", "/keys", "/keys"]


def deeply_nested(activity: dict[str, Any], depth: int = 1000) -> bytes:
    """The activity with a field nested ``depth`` lists deep (deeper than the parser's stack)."""
    return json.dumps(activity)[:-1].encode() + b', "x": ' + b"[" * depth + b"]" * depth + b"}"


def test_a_deeply_nested_body_under_a_forged_token_is_refused_before_it_is_parsed(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    body = deeply_nested(hello(fake))
    for token in ("not.a.jwt", fake.mint_token(APP_ID, fake.service_url, sign_with_other_key=True)):
        with pytest.raises(VerificationFailed, match="bearer token"):
            TEAMS.verify({"authorization": f"Bearer {token}"}, body, CONFIG, runtime)


def test_a_deeply_nested_body_under_a_valid_token_is_no_activity(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    headers = {"authorization": f"Bearer {fake.mint_token(APP_ID, fake.service_url)}"}
    with pytest.raises(VerificationFailed, match="not a Bot Framework activity"):
        TEAMS.verify(headers, deeply_nested(hello(fake)), CONFIG, runtime)
    with pytest.raises(VerificationFailed):
        TEAMS.parse(deeply_nested(hello(fake)), JSON_TYPE)


@pytest.mark.parametrize("status", [500, 503])
def test_unreachable_signing_keys_fail_verification_not_the_request(
    fake: FakeTeams, runtime: ChannelRuntime, status: int
) -> None:
    fake.fail_next(status)
    with pytest.raises(VerificationFailed, match="signing keys"):
        verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url))

    verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url))


def test_a_refused_connection_to_the_key_endpoint_fails_verification() -> None:
    runtime = ChannelRuntime(
        http=httpx.Client(),
        urls=ProviderUrls(teams_openid_metadata="http://127.0.0.1:9/openid-metadata"),
        send_timeout=1,
    )
    with FakeTeams() as fake, pytest.raises(VerificationFailed):
        verify(fake, runtime, hello(fake), fake.mint_token(APP_ID, fake.service_url))
    runtime.close()


def test_teams_has_no_handshake() -> None:
    with pytest.raises(VerificationFailed):
        TEAMS.handshake({"hub.challenge": "x"}, CONFIG)


# -- parse ----------------------------------------------------------------------------------

SAMPLE_REPLY_TO = {
    "service_url": "https://smba.trafficmanager.net/amer/",
    "conversation_id": CONVERSATION,
    "bot_id": BOT["id"],
    "bot_name": BOT["name"],
    "user_id": USER_ID,
    "user_name": "Test User",
    "tenant_id": TENANT,
    "conversation_type": "personal",
}


def test_a_personal_text_message_becomes_one_text_message() -> None:
    webhook = parse(sample("inbound_message_personal.json"))

    assert webhook.account_ids == {APP_ID}
    assert webhook.statuses == []
    assert webhook.messages == [
        InboundMessage(
            provider_message_id="1750000000101",
            account_id=APP_ID,
            user_id=USER_ID,
            kind="text",
            text="Hi, has my order #1234 shipped?",
            reply_to={**SAMPLE_REPLY_TO, "activity_id": "1750000000101"},
            user_name="Test User",
            sent_at=datetime(2025, 6, 15, 15, 6, 41, 101000, tzinfo=UTC),
        )
    ]


def test_a_channel_message_loses_the_mention_of_the_bot_and_keeps_its_thread() -> None:
    [message] = parse(sample("inbound_message_channel_mention.json")).messages

    assert message.kind == "text"
    assert message.text == "status of #1234?"
    assert message.reply_to["conversation_id"] == CHANNEL_THREAD
    assert message.reply_to["conversation_type"] == "channel"
    assert message.reply_to["activity_id"] == "1750000000102"


def test_a_mention_of_someone_else_stays_in_the_text() -> None:
    activity = hello_sample(text="<at>Alex</at> can you check?")
    mention = {"type": "mention", "text": "<at>Alex</at>", "mentioned": {"id": "29:alex"}}
    activity["entities"] = [mention]

    assert parse(activity).messages[0].text == "<at>Alex</at> can you check?"


def hello_sample(**fields: Any) -> dict[str, Any]:
    return {**sample("inbound_message_personal.json"), **fields}


def test_an_inline_image_becomes_an_image_message_with_its_caption() -> None:
    [message] = parse(sample("inbound_image_inline.json")).messages

    assert (message.kind, message.text) == ("image", "Photo of the damaged box")
    assert message.content == {
        "url": "https://smba.trafficmanager.net/amer/v3/attachments/"
        "0-FAKE-d1-0123456789abcdef0123456789abcdef/views/original",
        "mime_type": "image/*",
        "caption": "Photo of the damaged box",
    }


def test_a_shared_file_becomes_a_media_message_with_its_download_url() -> None:
    [message] = parse(sample("inbound_file_download_info.json")).messages

    assert (message.kind, message.text) == ("media", "invoice-1234.pdf")
    assert message.content == {
        "media_id": "0fa4e000-0000-4000-8000-0000000000f1",
        "url": "https://fake-my.sharepoint.com/personal/test_user_example_com/_layouts/15/"
        "download.aspx?UniqueId=0fa4e000-0000-4000-8000-0000000000f1&tempauth=FAKE",
        "filename": "invoice-1234.pdf",
        "caption": "",
    }


def test_an_adaptive_card_submit_becomes_an_interactive_card_submit() -> None:
    [message] = parse(sample("inbound_adaptive_card_submit.json")).messages

    assert (message.kind, message.text) == ("interactive", "confirm_order")
    assert message.provider_message_id == "1750000000105"
    assert message.content == {
        "type": "card_submit",
        "id": "confirm_order",
        "title": "confirm_order",
        "values": {
            "action": "confirm_order",
            "orderId": "1234",
            "comment": "Please leave at the door",
        },
    }


def test_a_card_submit_without_an_action_falls_back_to_its_id_then_submit() -> None:
    by_id = card_submit(APP_ID, {"id": "rate", "stars": "5"}, CONVERSATION, "7", "https://s/")
    anonymous = card_submit(APP_ID, {"stars": "5"}, CONVERSATION, "8", "https://s/")

    assert parse(by_id).messages[0].content["id"] == "rate"
    assert parse(anonymous).messages[0].content["id"] == "submit"


def test_a_message_back_with_text_and_value_is_read_as_its_text() -> None:
    [message] = parse(hello_sample(text="track 1234", value={"order": "1234"})).messages

    assert (message.kind, message.text) == ("text", "track 1234")


def test_a_geo_coordinates_entity_becomes_a_location() -> None:
    [message] = parse(sample("inbound_location_geocoordinates.synthetic.json")).messages

    assert (message.kind, message.text) == ("location", "Example Coffee")
    assert message.content == {
        "latitude": 37.4847,
        "longitude": -122.1486,
        "name": "Example Coffee",
    }


def test_a_read_receipt_marks_messages_read_up_to_its_last_read_id() -> None:
    webhook = parse(sample("inbound_read_receipt_event.json"))

    assert webhook.messages == []
    assert webhook.account_ids == {APP_ID}
    assert webhook.statuses == [
        StatusUpdate(
            account_id=APP_ID,
            state=DeliveryState.READ,
            provider_message_id="1750000000120",
            user_id=USER_ID,  # the id the user's messages are stored under, not aadObjectId
            at=datetime(2025, 6, 15, 15, 7, tzinfo=UTC),
        )
    ]


def test_a_read_receipt_from_the_builder_parses_like_the_sample() -> None:
    [status] = parse(read_receipt(APP_ID, "42", CONVERSATION, "https://s/")).statuses

    assert (status.provider_message_id, status.state) == ("42", DeliveryState.READ)


@pytest.mark.parametrize(
    "activity",
    [
        pytest.param(sample("inbound_conversation_update_installed.json"), id="bot installed"),
        pytest.param(
            {**sample("inbound_adaptive_card_submit.json"), "type": "invoke", "name": "x"},
            id="invoke",
        ),
        pytest.param({**sample("inbound_message_personal.json"), "type": "typing"}, id="typing"),
        pytest.param(hello_sample(text="", attachments=[]), id="empty message"),
        pytest.param(hello_sample(**{"from": BOT}), id="the bot's own message"),
    ],
)
def test_activities_without_a_user_message_are_ignored(activity: dict[str, Any]) -> None:
    webhook = parse(activity)

    assert (webhook.messages, webhook.statuses) == ([], [])
    assert webhook.account_ids == {APP_ID}


def test_a_card_action_execute_is_the_next_turn_answered_with_the_card_showing_the_choice() -> None:
    data = {"id": "OPENING_HOURS", "title": "Opening hours"}
    invoke = card_execute(APP_ID, "choose", data, CONVERSATION, "f:invoke1", "https://s/", "17")

    webhook = parse(invoke)

    assert webhook.response == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.card.adaptive",
        "value": {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": "✓ Opening hours", "wrap": True}],
        },
    }
    [message] = webhook.messages
    assert (message.kind, message.text, message.provider_message_id) == (
        "interactive",
        "Opening hours",
        "f:invoke1",
    )
    assert message.content == {
        "type": "card_action",
        "id": "OPENING_HOURS",
        "title": "Opening hours",
        "values": data,
    }
    # Answered under the card the user clicked.
    assert (message.reply_to["activity_id"], message.reply_to["conversation_id"]) == (
        "17",
        CONVERSATION,
    )


def test_an_action_execute_without_data_is_named_by_its_verb() -> None:
    invoke = card_execute(APP_ID, "approve", {}, CONVERSATION, "f:invoke2", "https://s/")

    webhook = parse(invoke)

    [message] = webhook.messages
    assert (message.content["id"], message.text) == ("approve", "approve")
    assert webhook.response is not None
    assert webhook.response["value"]["body"][0]["text"] == "✓ approve"


def test_an_invoke_that_is_not_an_action_execute_is_answered_with_an_invoke_error() -> None:
    invoke = card_execute(APP_ID, "x", {}, CONVERSATION, "f:invoke3", "https://s/")
    invoke["value"] = {"action": {"type": "Action.Submit"}}

    webhook = parse(invoke)

    assert webhook.messages == []
    assert webhook.response is not None
    assert (webhook.response["statusCode"], webhook.response["type"]) == (
        400,
        "application/vnd.microsoft.error",
    )


def test_a_message_in_a_meeting_chat_is_a_turn_answered_in_that_chat() -> None:
    meeting_chat = "19:meeting_FAKEmeeting0123456789@thread.v2"
    activity = message_activity(
        APP_ID,
        "agenda?",
        meeting_chat,
        "1750000000777",
        "https://s/",
        conversation_type="groupChat",
    )
    activity["channelData"]["meeting"] = {"id": "MCMxOTptZWV0aW5nX0ZBS0U="}

    [message] = parse(activity).messages

    assert message.text == "agenda?"
    assert (message.reply_to["conversation_id"], message.reply_to["conversation_type"]) == (
        meeting_chat,
        "groupChat",
    )


def test_the_bot_added_to_a_conversation_is_installed_and_others_are_counted() -> None:
    update = conversation_update(
        APP_ID,
        CONVERSATION,
        "https://s/",
        "f:update1",
        members_added=[f"28:{APP_ID}", "29:someone", "29:another"],
    )

    webhook = parse(update)

    assert (webhook.messages, webhook.statuses) == ([], [])
    installed, members = webhook.events
    assert (installed.kind, installed.event_id, installed.conversation_id) == (
        "installed",
        "f:update1:installed",
        CONVERSATION,
    )
    assert installed.detail == {
        "source": "conversationUpdate",
        "conversation_type": "personal",
        "team_id": None,
    }
    assert (members.kind, members.detail["added"], members.detail["removed"]) == (
        "members_changed",
        2,
        0,
    )


def test_the_sample_install_is_an_installed_event() -> None:
    [event] = parse(sample("inbound_conversation_update_installed.json")).events

    assert (event.kind, event.account_id) == ("installed", APP_ID)


def test_the_bot_removed_from_a_team_is_uninstalled_there() -> None:
    update = conversation_update(
        APP_ID,
        CHANNEL_THREAD,
        "https://s/",
        "f:update2",
        members_removed=[f"28:{APP_ID}"],
        conversation_type="channel",
    )
    update["channelData"]["team"] = {"id": "19:FAKEteam@thread.tacv2"}

    [event] = parse(update).events

    assert event.kind == "uninstalled"
    assert event.detail["team_id"] == "19:FAKEteam@thread.tacv2"


@pytest.mark.parametrize(
    ("action", "kind"),
    [("add", "installed"), ("add-upgrade", "installed"), ("remove", "uninstalled")],
)
def test_an_installation_update_is_an_install_or_a_removal(action: str, kind: str) -> None:
    update = installation_update(APP_ID, action, CONVERSATION, "https://s/", "f:install1")

    [event] = parse(update).events

    assert (event.kind, event.detail["source"]) == (kind, "installationUpdate")


@pytest.mark.parametrize("started", [True, False], ids=["start", "end"])
def test_a_meeting_start_or_end_is_an_event_without_its_join_url(started: bool) -> None:
    event_activity = meeting_event(
        APP_ID,
        started,
        "MCMxOTptZWV0aW5n",
        "Weekly sync",
        "19:meeting_x@thread.v2",
        "https://s/",
        "f:m1",
    )

    [event] = parse(event_activity).events

    assert event.kind == ("meeting_started" if started else "meeting_ended")
    assert event.detail == {
        "source": "event",
        "conversation_type": "groupChat",
        "team_id": None,
        "meeting_id": "MCMxOTptZWV0aW5n",
        "meeting_type": "Scheduled",
        "title": "Weekly sync",
    }
    assert event.at == datetime(2025, 6, 15, 16, 0, tzinfo=UTC)
    assert "meetup-join" not in repr(event)


def test_odd_shapes_in_an_activity_do_not_break_parsing() -> None:
    odd = hello_sample(entities=7, attachments="none", channelData=None, timestamp="yesterday")

    [message] = parse(odd).messages
    assert (message.kind, message.sent_at, message.reply_to["tenant_id"]) == ("text", None, None)
    assert parse({"type": "message", "recipient": "28:x"}).messages == []


def test_a_body_that_is_not_json_cannot_be_parsed() -> None:
    with pytest.raises(VerificationFailed):
        TEAMS.parse(b"<xml/>", JSON_TYPE)


# -- send -----------------------------------------------------------------------------------


def send(
    fake: FakeTeams, runtime: ChannelRuntime, parts: list[dict[str, Any]], **kw: Any
) -> Receipt:
    return TEAMS.send(outbound(fake, parts, **kw), CONFIG, runtime)


def test_a_text_reply_posts_one_plain_activity_with_a_client_credentials_token(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    receipt = send(fake, runtime, [{"type": "text", "text": "Your order #1234 has shipped 📦"}])

    [token_request] = fake.token_requests
    assert token_request.path == f"/{TENANT}/oauth2/v2.0/token"
    assert token_request.form() == {
        "grant_type": "client_credentials",
        "client_id": APP_ID,
        "client_secret": APP_PASSWORD,
        "scope": "https://api.botframework.com/.default",
    }
    [post] = fake.requests_to("/activities/1750000000101")
    assert (
        post.path
        == f"/amer/v3/conversations/{CONVERSATION.replace(':', '%3A')}/activities/1750000000101"
    )
    assert post.headers["content-type"] == JSON_TYPE
    [sent] = fake.sent
    assert sent.authorization == f"Bearer {token_request_token(fake)}"
    assert (sent.conversation_id, sent.reply_to_id) == (CONVERSATION, "1750000000101")
    assert sent.activity == reply_envelope(
        text="Your order #1234 has shipped 📦", textFormat="plain"
    )
    assert receipt == Receipt(provider_message_ids=[sent.activity_id], delivered=True)


def token_request_token(fake: FakeTeams) -> str:
    [token] = fake.issued_tokens
    return token


def test_the_default_tenant_is_botframework_com(fake: FakeTeams, runtime: ChannelRuntime) -> None:
    config = ChannelConfig("c", "t", "teams", APP_ID, secrets={"app_password": APP_PASSWORD})
    TEAMS.send(outbound(fake, [{"type": "text", "text": "hi"}]), config, runtime)

    assert fake.token_requests[0].path == "/botframework.com/oauth2/v2.0/token"


def test_a_service_url_without_its_trailing_slash_reaches_the_same_path(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    send(fake, runtime, [{"type": "text", "text": "hi"}], service_url=fake.service_url.rstrip("/"))

    assert len(fake.sent) == 1


def test_a_channel_reply_goes_to_the_thread_conversation(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    send(
        fake,
        runtime,
        [{"type": "text", "text": "Shipped."}],
        conversation_id=CHANNEL_THREAD,
        conversation_type="channel",
        activity_id="1750000000102",
    )

    [sent] = fake.sent
    assert (sent.conversation_id, sent.reply_to_id) == (CHANNEL_THREAD, "1750000000102")


def test_a_reply_without_parts_sends_the_outbound_text(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    send(fake, runtime, [], text="Plain fallback")

    assert [s.activity for s in fake.sent] == [
        reply_envelope(text="Plain fallback", textFormat="plain")
    ]


def test_long_text_is_split_in_order_into_several_activities(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    words = [f"w{n:05d}" for n in range(5000)]
    text = " ".join(words)
    assert len(text) > 2 * TEXT_LIMIT

    receipt = send(fake, runtime, [{"type": "text", "text": text}])

    chunks = [s.activity["text"] for s in fake.sent]
    assert len(chunks) == 3
    assert all(len(chunk) <= TEXT_LIMIT for chunk in chunks)
    assert " ".join(chunks).split() == words
    assert receipt.provider_message_ids == [s.activity_id for s in fake.sent]
    assert len(fake.token_requests) == 1


def test_quick_replies_in_a_personal_chat_are_suggested_actions(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    options = [{"title": "Standard", "payload": "Standard"}, {"title": "Express"}]
    send(
        fake,
        runtime,
        [{"type": "quick_replies", "text": "Which shipping speed?", "options": options}],
    )

    assert [s.activity for s in fake.sent] == [
        reply_envelope(
            text="Which shipping speed?",
            textFormat="plain",
            suggestedActions={
                "to": [USER_ID],
                "actions": [
                    {"type": "imBack", "title": "Standard", "value": "Standard"},
                    {"type": "imBack", "title": "Express", "value": "Express"},
                ],
            },
        )
    ]


def adaptive(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}


def submit(title: str, value: str) -> dict[str, Any]:
    """A postback: an ``Action.Execute`` (an invoke the ingress answers), and for a client
    without Universal Actions its fallback, whose imBack posts ``value`` back as the user's own
    message."""
    return {
        "type": "Action.Execute",
        "title": title,
        "verb": value,
        "data": {"id": value, "title": title},
        "fallback": {
            "type": "Action.Submit",
            "title": title,
            "data": {"msteams": {"type": "imBack", "value": value}},
        },
    }


def text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def test_quick_replies_in_a_channel_are_an_adaptive_card_of_submit_actions(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    options = [{"title": "Standard", "payload": "ship standard"}, {"title": "Express"}]
    part = {"type": "quick_replies", "text": "Which shipping speed?", "options": options}
    send(fake, runtime, [part], conversation_type="channel")

    [sent] = fake.sent
    assert sent.activity == reply_envelope(
        attachments=[
            adaptive(
                [text_block("Which shipping speed?")],
                [submit("Standard", "ship standard"), submit("Express", "Express")],
            )
        ]
    )


def test_more_than_three_quick_replies_become_a_card_so_none_are_hidden(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    options = [{"title": t} for t in ("One", "Two", "Three", "Four")]
    send(fake, runtime, [{"type": "quick_replies", "text": "Pick", "options": options}])

    [sent] = fake.sent
    assert "suggestedActions" not in sent.activity
    actions = sent.activity["attachments"][0]["content"]["actions"]
    assert [a["title"] for a in actions] == ["One", "Two", "Three", "Four"]


def test_a_card_is_an_adaptive_card_with_image_submit_and_open_url_actions(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    card = {
        "type": "card",
        "title": "Order #1234",
        "subtitle": "Shipped",
        "image_url": "https://cdn.example.com/fake/parcel.jpg",
        "buttons": [
            {"title": "Track order", "payload": "track 1234"},
            {"title": "View receipt", "url": "https://shop.example.com/fake/orders/1234"},
            {"title": "Call us", "phone": "+15550100100"},
        ],
    }
    send(fake, runtime, [card])

    [sent] = fake.sent
    assert sent.activity == reply_envelope(
        attachments=[
            adaptive(
                [
                    text_block("Order #1234", size="medium", weight="bolder"),
                    text_block("Shipped", isSubtle=True),
                    {
                        "type": "Image",
                        "url": "https://cdn.example.com/fake/parcel.jpg",
                        "size": "stretch",
                    },
                    text_block("1. Call us +15550100100"),
                ],
                [
                    submit("Track order", "track 1234"),
                    {
                        "type": "Action.OpenUrl",
                        "title": "View receipt",
                        "url": "https://shop.example.com/fake/orders/1234",
                    },
                ],
            )
        ]
    )


def test_a_buttons_part_is_an_adaptive_card_under_its_text(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "buttons",
        "text": "Confirm order #1234?",
        "buttons": [{"title": "Confirm", "payload": "confirm_order"}],
    }
    send(fake, runtime, [part], conversation_type="channel")

    [sent] = fake.sent
    assert sent.activity["attachments"] == [
        adaptive([text_block("Confirm order #1234?")], [submit("Confirm", "confirm_order")])
    ]


def test_a_list_is_a_carousel_of_one_card_per_item_after_its_text(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "list",
        "text": "Two trail shoes:",
        "items": [
            {
                "title": "Ridge",
                "image_url": "https://cdn.example.com/ridge.jpg",
                "buttons": [{"title": "View", "url": "https://shop.example.com/ridge"}],
            },
            {"title": "Canyon", "subtitle": "Grippy", "payload": "PICK_CANYON"},
        ],
    }
    send(fake, runtime, [part])

    intro, carousel = (s.activity for s in fake.sent)
    assert intro == reply_envelope(text="Two trail shoes:", textFormat="plain")
    assert carousel == reply_envelope(
        attachments=[
            adaptive(
                [
                    text_block("Ridge", size="medium", weight="bolder"),
                    {
                        "type": "Image",
                        "url": "https://cdn.example.com/ridge.jpg",
                        "size": "stretch",
                    },
                ],
                [
                    {
                        "type": "Action.OpenUrl",
                        "title": "View",
                        "url": "https://shop.example.com/ridge",
                    }
                ],
            ),
            adaptive(
                [
                    text_block("Canyon", size="medium", weight="bolder"),
                    text_block("Grippy", isSubtle=True),
                ],
                [submit("Canyon", "PICK_CANYON")],
            ),
        ],
        attachmentLayout="carousel",
    )


def test_a_location_is_a_map_link_in_plain_text(fake: FakeTeams, runtime: ChannelRuntime) -> None:
    part = {"type": "location", "latitude": 47.6423, "longitude": -122.1391, "name": "Campus"}
    send(fake, runtime, [part])

    assert [s.activity for s in fake.sent] == [
        reply_envelope(
            text="Campus\nhttps://www.google.com/maps/search/?api=1&query=47.6423,-122.1391",
            textFormat="plain",
        )
    ]


@pytest.mark.parametrize(
    "content",
    [
        {"type": "AdaptiveCard", "version": "2.0", "body": []},
        {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Carousel"}]},
        {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": ""}]},
        {"type": "AdaptiveCard", "version": "1.5", "actions": [{"type": "Action.OpenUrl"}]},
        {"type": "HeroCard"},
    ],
)
def test_the_fake_refuses_adaptive_cards_teams_cannot_render(
    fake: FakeTeams, runtime: ChannelRuntime, content: dict[str, Any]
) -> None:
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": content}
    send(fake, runtime, [{"type": "text", "text": "first, a token"}])
    [token] = fake.issued_tokens
    answer = httpx.post(
        f"{fake.service_url}v3/conversations/{CONVERSATION}/activities",
        json=reply_envelope(attachments=[attachment]),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadArgument"
    assert [sent.activity.get("text") for sent in fake.sent] == ["first, a token"]


def test_an_image_is_an_attachment_followed_by_its_caption(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "media",
        "url": "https://cdn.example.com/fake/receipt-1234.png",
        "mime_type": "image/png",
        "caption": "Your receipt",
    }
    receipt = send(fake, runtime, [part])

    assert [s.activity for s in fake.sent] == [
        reply_envelope(
            attachments=[
                {
                    "contentType": "image/png",
                    "contentUrl": "https://cdn.example.com/fake/receipt-1234.png",
                    "name": "receipt-1234.png",
                }
            ]
        ),
        reply_envelope(text="Your receipt", textFormat="plain"),
    ]
    assert len(receipt.provider_message_ids) == 2


def test_a_document_degrades_to_its_caption_and_link(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    part = {
        "type": "media",
        "url": "https://cdn.example.com/fake/invoice.pdf",
        "mime_type": "application/pdf",
        "caption": "Invoice",
    }
    send(fake, runtime, [part])

    assert [s.activity for s in fake.sent] == [
        reply_envelope(text="Invoice https://cdn.example.com/fake/invoice.pdf", textFormat="plain")
    ]


def test_parts_are_sent_in_order(fake: FakeTeams, runtime: ChannelRuntime) -> None:
    parts = [
        {"type": "text", "text": "first"},
        {"type": "card", "title": "second"},
        {"type": "text", "text": "third"},
    ]
    receipt = send(fake, runtime, parts)

    assert [s.activity.get("text") for s in fake.sent] == ["first", None, "third"]
    assert receipt.provider_message_ids == [s.activity_id for s in fake.sent]


def test_a_reply_without_a_conversation_is_rejected(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    with pytest.raises(SendRejected):
        send(fake, runtime, [{"type": "text", "text": "hi"}], service_url="")


# -- the send token -------------------------------------------------------------------------


def test_the_token_is_fetched_once_and_reused_across_sends(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    for n in range(3):
        send(fake, runtime, [{"type": "text", "text": f"message {n}"}])

    assert len(fake.token_requests) == 1
    assert len({s.authorization for s in fake.sent}) == 1


def test_the_token_is_fetched_again_five_minutes_before_it_expires(
    fake: FakeTeams, runtime: ChannelRuntime, clock: Clock
) -> None:
    send(fake, runtime, [{"type": "text", "text": "one"}])
    clock.now += 3599 - 300 - 1
    send(fake, runtime, [{"type": "text", "text": "two"}])
    clock.now += 2
    send(fake, runtime, [{"type": "text", "text": "three"}])

    assert len(fake.token_requests) == 2
    assert fake.sent[0].authorization == fake.sent[1].authorization != fake.sent[2].authorization


def test_a_refused_token_is_dropped_and_the_retry_fetches_a_new_one(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    send(fake, runtime, [{"type": "text", "text": "one"}])
    fake.revoke_tokens()

    with pytest.raises(SendFailed) as failed:
        send(fake, runtime, [{"type": "text", "text": "two"}])
    assert not isinstance(failed.value, RateLimited)
    send(fake, runtime, [{"type": "text", "text": "two"}])

    assert len(fake.token_requests) == 2
    assert [s.activity["text"] for s in fake.sent] == ["one", "two"]


def test_a_wrong_app_password_is_rejected_without_revealing_it(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    config = ChannelConfig(
        "c", "t", "teams", APP_ID, {"azure_tenant": TENANT}, {"app_password": "FAKE-wrong-secret"}
    )
    with pytest.raises(SendRejected) as rejected:
        TEAMS.send(outbound(fake, [{"type": "text", "text": "hi"}]), config, runtime)

    assert rejected.value.code == "invalid_client"
    assert "FAKE-wrong-secret" not in str(rejected.value)
    assert fake.sent == []


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_token_endpoint_is_worth_retrying(
    fake: FakeTeams, runtime: ChannelRuntime, status: int
) -> None:
    fake.fail_token(status, "temporarily_unavailable")
    with pytest.raises(SendFailed):
        send(fake, runtime, [{"type": "text", "text": "hi"}])

    send(fake, runtime, [{"type": "text", "text": "hi"}])
    assert len(fake.sent) == 1


def test_a_hanging_token_endpoint_times_out_as_a_send_failure(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    runtime.send_timeout = 0.2
    fake.hang_next()
    with pytest.raises(SendFailed):
        send(fake, runtime, [{"type": "text", "text": "hi"}])


# -- connector errors -----------------------------------------------------------------------


def prime_token(fake: FakeTeams, runtime: ChannelRuntime) -> None:
    send(fake, runtime, [{"type": "text", "text": "warm-up"}])


@pytest.mark.parametrize(
    ("sample_name", "status", "error", "code"),
    [
        ("response_error_throttled.json", 429, RateLimited, None),
        ("response_error_precondition_failed.json", 412, SendFailed, None),
        ("response_error_conversation_not_found.json", 404, SendRejected, "ConversationNotFound"),
        ("response_error_blocked_by_user.json", 403, SendRejected, "ConversationBlockedByUser"),
        ("response_error_bot_not_in_roster.json", 403, SendRejected, "BotNotInConversationRoster"),
        ("response_error_message_too_big.json", 413, SendRejected, "MessageSizeTooBig"),
    ],
)
def test_each_documented_connector_error_is_classified(
    fake: FakeTeams,
    runtime: ChannelRuntime,
    sample_name: str,
    status: int,
    error: type[Exception],
    code: str | None,
) -> None:
    prime_token(fake, runtime)
    fake.fail_send(status, body=sample(sample_name))

    with pytest.raises(error) as raised:
        send(fake, runtime, [{"type": "text", "text": "hi"}])
    assert type(raised.value) is error
    if code is not None:
        assert isinstance(raised.value, SendRejected)
        assert raised.value.code == code


def test_throttling_carries_the_retry_after_hint(fake: FakeTeams, runtime: ChannelRuntime) -> None:
    fake.fail_with_throttle(retry_after=3)
    with pytest.raises(RateLimited) as limited:
        send(fake, runtime, [{"type": "text", "text": "hi"}])
    assert limited.value.retry_after == 3.0

    fake.fail_with_throttle()
    with pytest.raises(RateLimited) as limited:
        send(fake, runtime, [{"type": "text", "text": "hi"}])
    assert limited.value.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_worth_retrying(
    fake: FakeTeams, runtime: ChannelRuntime, status: int
) -> None:
    fake.fail_with_server_error(status)
    with pytest.raises(SendFailed) as failed:
        send(fake, runtime, [{"type": "text", "text": "hi"}])
    assert not isinstance(failed.value, RateLimited)


def test_the_fakes_named_faults_classify_like_the_samples(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    fake.fail_with_precondition_failed()
    with pytest.raises(SendFailed):
        send(fake, runtime, [{"type": "text", "text": "hi"}])
    fake.fail_with_conversation_not_found()
    with pytest.raises(SendRejected, match="ConversationNotFound"):
        send(fake, runtime, [{"type": "text", "text": "hi"}])
    fake.fail_with_blocked_by_user()
    with pytest.raises(SendRejected, match="ConversationBlockedByUser"):
        send(fake, runtime, [{"type": "text", "text": "hi"}])


def test_a_hanging_connector_times_out_as_a_send_failure(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    prime_token(fake, runtime)
    runtime.send_timeout = 0.2
    fake.hang_send()

    with pytest.raises(SendFailed):
        send(fake, runtime, [{"type": "text", "text": "hi"}])


def test_an_unreachable_connector_is_a_send_failure(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    prime_token(fake, runtime)
    with pytest.raises(SendFailed):
        send(
            fake, runtime, [{"type": "text", "text": "hi"}], service_url="http://127.0.0.1:9/amer/"
        )


def test_no_error_message_carries_the_token(fake: FakeTeams, runtime: ChannelRuntime) -> None:
    prime_token(fake, runtime)
    token = token_request_token(fake)
    fake.fail_send(400, "BadArgument", "Activity is invalid.")

    with pytest.raises(SendRejected) as rejected:
        send(fake, runtime, [{"type": "text", "text": "hi"}])
    assert token not in str(rejected.value)
    assert APP_PASSWORD not in str(rejected.value)


# --- typing indicator -------------------------------------------------------------------------


def test_typing_posts_a_typing_activity_to_the_conversation_with_the_send_token(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    TEAMS.typing(ReplyAddress(USER_ID, reply_to(fake)), CONFIG, runtime)
    [typing] = fake.typing
    assert typing.conversation_id == CONVERSATION
    assert typing.reply_to_id is None  # the conversation's, not a reply to the message
    assert typing.authorization.removeprefix("Bearer ") in fake.issued_tokens
    assert typing.activity == {
        "type": "typing",
        "from": BOT,
        "conversation": {"id": CONVERSATION},
        "recipient": USER,
    }
    assert fake.sent == []


def test_a_failed_typing_activity_is_a_typed_error(
    fake: FakeTeams, runtime: ChannelRuntime
) -> None:
    TEAMS.typing(ReplyAddress(USER_ID, reply_to(fake)), CONFIG, runtime)  # a token is cached
    fake.revoke_tokens()
    with pytest.raises(SendFailed):
        TEAMS.typing(ReplyAddress(USER_ID, reply_to(fake)), CONFIG, runtime)
    with pytest.raises(SendRejected):
        TEAMS.typing(ReplyAddress(USER_ID), CONFIG, runtime)
