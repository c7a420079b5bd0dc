"""Interactive inbound end to end: a click on a bot's control becomes the next turn and the
clicked message shows the choice — through the real ingress, workers, engine and services,
with the providers' fakes as real HTTP servers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from channel_scenarios import MessengerScenario, SlackScenario, post
from processes import ProcessGroup, running_platform
from pymongo.database import Database
from testenv import ENGINE_PORT, free_port
from waiting import eventually

from core.settings import Settings
from core.tokens import mint_token
from tests.fakes import messenger as fb
from tests.fakes import slack as sl
from tests.fakes.accounts import ProviderAccounts
from tests.fakes.teams import card_execute, card_submit, conversation_update, message_activity

pytestmark = pytest.mark.e2e

HOURS = "We are open Monday to Friday, 9:00 to 18:00."


class Stack:
    def __init__(self, base: str, group: ProcessGroup, providers: ProviderAccounts) -> None:
        self.base = base
        self.group = group
        self.providers = providers


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, db: Any, broker: Any) -> Iterator[Stack]:
    logs: Path = tmp_path_factory.mktemp("interactive-logs")
    with ExitStack() as stack:
        providers = stack.enter_context(ProviderAccounts())
        base, group = stack.enter_context(
            running_platform(logs, ENGINE_PORT, free_port(), providers.env)
        )
        yield Stack(base, group, providers)


def admin(settings: Settings, tenant: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {mint_token(settings.require_jwt_secret(), tenant, 'ops', 600)}"
    }


def connect(stack: Stack, settings: Settings, tenant: str, registration: dict[str, Any]) -> str:
    """Registers the account, which its provider fake proves; its webhook URL."""
    created = httpx.post(
        f"{stack.base}/v1/admin/channels",
        headers=admin(settings, tenant),
        json=stack.providers.own(registration),
    )
    assert created.status_code == 201, created.text
    return f"{stack.base}/webhooks/{registration['channel']}/{created.json()['id']}"


def inbound(db: Database[Any], tenant: str, **query: Any) -> list[dict[str, Any]]:
    return list(db["messages"].find({"tenant_id": tenant, "direction": "inbound", **query}))


# --- Slack --------------------------------------------------------------------------------------


def slack_question(stack: Stack, scenario: SlackScenario, url: str) -> dict[str, Any]:
    """The user says hello; the bot's answer with buttons, as the Slack fake keeps it."""
    fake = stack.providers.slack
    assert post(url, scenario.inbound_text("hello")).status_code == 200
    key = eventually(
        lambda: next((k for k in list(fake.messages) if k[0] == scenario.dm_channel), None),
        "the bot's question with buttons",
    )
    return {"ts": key[1], **fake.messages[key]}


def slack_click(scenario: SlackScenario, question: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return sl.block_actions(
        team_id=scenario.account_id,
        channel=scenario.dm_channel,
        user=scenario.user,
        value="OPENING_HOURS",
        title="Opening hours",
        message_ts=question["ts"],
        message_text=question["text"],
        blocks=question["blocks"],
        **fields,
    )


def test_a_slack_button_click_is_the_next_turn_and_the_clicked_message_shows_the_choice(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake = stack.providers.slack
    scenario = SlackScenario()
    url = connect(stack, settings, tenant, scenario.registration())
    question = slack_question(stack, scenario, url)
    assert [b["type"] for b in question["blocks"]] == ["section", "actions"]
    click = slack_click(scenario, question)
    raw, headers = sl.signed_webhook(click, scenario.signing_secret)
    assert post(url, (raw, headers)).status_code == 200
    answers = eventually(
        lambda: [
            b for b in fake.posted if b["channel"] == scenario.dm_channel and b.get("text") == HOURS
        ],
        "the answer to the click",
    )
    assert len(answers) == 1
    [turn] = inbound(db, tenant, kind="interactive")
    assert turn["content"] == {
        "type": "block_action",
        "id": "OPENING_HOURS",
        "title": "Opening hours",
    }
    updated = eventually(lambda: fake.updated, "the clicked message updated")
    line = {
        "type": "context",
        "elements": [{"type": "plain_text", "text": "✓ Opening hours", "emoji": True}],
    }
    assert updated == [
        {
            "channel": scenario.dm_channel,
            "ts": question["ts"],
            "text": question["text"],
            "blocks": [question["blocks"][0], line],
        }
    ]
    shown = eventually(
        lambda: db["messages"].find_one({"_id": turn["_id"], "choice_shown": {"$exists": True}}),
        "the choice noted as shown",
    )
    assert shown["choice_shown"]["state"] == "shown"
    # Slack redelivers the same click: one inbound message, so no second turn and no second update.
    redelivered = sl.signed_request(
        raw, scenario.signing_secret, retry_num=1, content_type=sl.FORM_TYPE
    )
    assert httpx.post(url, content=raw, headers=redelivered).status_code == 200
    assert len(inbound(db, tenant, kind="interactive")) == 1
    assert len(fake.updated) == 1


def test_a_click_on_a_message_slack_no_longer_has_is_answered_and_the_refusal_noted(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake = stack.providers.slack
    scenario = SlackScenario()
    url = connect(stack, settings, tenant, scenario.registration())
    question = slack_question(stack, scenario, url)
    gone = {**question, "ts": "1600000000.000100"}  # deleted since: Slack has no such message
    assert (
        post(
            url, sl.signed_webhook(slack_click(scenario, gone), scenario.signing_secret)
        ).status_code
        == 200
    )
    eventually(
        lambda: [
            b for b in fake.posted if b["channel"] == scenario.dm_channel and b.get("text") == HOURS
        ],
        "the answer to the click",
    )
    [turn] = inbound(db, tenant, kind="interactive")
    noted = eventually(
        lambda: db["messages"].find_one({"_id": turn["_id"], "choice_shown": {"$exists": True}}),
        "the refusal noted",
    )
    assert noted["choice_shown"]["state"] == "refused"
    assert noted["choice_shown"]["code"] == "message_not_found"
    assert [u["ts"] for u in fake.updated if u["channel"] == scenario.dm_channel] == [gone["ts"]]


# --- Teams --------------------------------------------------------------------------------------


def connect_teams(stack: Stack, settings: Settings, tenant: str) -> tuple[str, str]:
    """A Teams bot connected for ``tenant``: (webhook URL, app id)."""
    app_id, password = str(uuid.uuid4()), "FAKE~teams~" + uuid.uuid4().hex
    stack.providers.teams.add_app(app_id, password)
    registration = {
        "channel": "teams",
        "account_id": app_id,
        "secrets": {"app_password": password},
        "options": {"azure_tenant": "botframework.com"},
    }
    return connect(stack, settings, tenant, registration), app_id


def teams_replies(stack: Stack, conversation: str) -> list[Any]:
    return [s for s in stack.providers.teams.sent if s.conversation_id == conversation]


def test_a_teams_action_execute_is_answered_with_the_refreshed_card_then_as_a_turn(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake = stack.providers.teams
    url, app_id = connect_teams(stack, settings, tenant)
    conversation = "a:1FAKE" + uuid.uuid4().hex
    data = {"id": "OPENING_HOURS", "title": "Opening hours"}
    invoke = card_execute(
        app_id,
        "choose",
        data,
        conversation,
        "f:exec" + uuid.uuid4().hex,
        fake.service_url,
        "1750000000400",
    )

    answer = post(url, fake.signed_webhook(invoke))

    # The card is refreshed in the HTTP answer itself, before any engine call.
    assert answer.status_code == 200
    assert answer.json() == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.card.adaptive",
        "value": {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": "✓ Opening hours", "wrap": True}],
        },
    }
    [sent] = eventually(
        lambda: teams_replies(stack, conversation), "the bot's answer to the action"
    )
    assert (sent.reply_to_id, sent.activity["text"]) == ("1750000000400", HOURS)


def test_a_teams_submit_and_a_suggested_action_click_are_turns_too(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake = stack.providers.teams
    url, app_id = connect_teams(stack, settings, tenant)
    conversation = "a:1FAKE" + uuid.uuid4().hex
    submit = card_submit(
        app_id,
        {"action": "OPENING_HOURS", "title": "Opening hours"},
        conversation,
        "1750000000501",
        fake.service_url,
    )
    # A suggested action (imBack) posts its value as the user's own message.
    suggested = message_activity(
        app_id, "OPENING_HOURS", conversation, "1750000000502", fake.service_url
    )
    # One after the other, each once the last was answered, as a user clicks: two clicks
    # within the burst window would be answered together (docs/bursts.md).
    for answers, activity in enumerate((submit, suggested), start=1):
        assert post(url, fake.signed_webhook(activity)).status_code == 200
        replies = eventually(
            lambda n=answers: (lambda found: found if len(found) == n else None)(
                teams_replies(stack, conversation)
            ),
            f"{answers} answer(s)",
        )
    assert sorted(r.reply_to_id for r in replies) == ["1750000000501", "1750000000502"]
    kinds = sorted(m["kind"] for m in inbound(db, tenant))
    assert kinds == ["interactive", "text"]


def test_a_bot_added_to_a_meeting_answers_in_the_meeting_chat_and_is_installed(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake = stack.providers.teams
    url, app_id = connect_teams(stack, settings, tenant)
    chat = f"19:meeting_FAKE{uuid.uuid4().hex}@thread.v2"
    added = conversation_update(
        app_id,
        chat,
        fake.service_url,
        "f:add" + uuid.uuid4().hex,
        members_added=[f"28:{app_id}"],
        conversation_type="groupChat",
    )
    assert post(url, fake.signed_webhook(added)).status_code == 200
    question = message_activity(
        app_id,
        "What are your opening hours?",
        chat,
        "1750000000601",
        fake.service_url,
        conversation_type="groupChat",
    )
    question["channelData"]["meeting"] = {"id": "MCMxOTptZWV0aW5nX0ZBS0U="}
    assert post(url, fake.signed_webhook(question)).status_code == 200
    [sent] = eventually(lambda: teams_replies(stack, chat), "the answer in the meeting chat")
    assert (sent.reply_to_id, sent.activity["text"]) == ("1750000000601", HOURS)
    config_id = url.rsplit("/", 1)[-1]
    view = httpx.get(
        f"{stack.base}/v1/admin/channels/{config_id}", headers=admin(settings, tenant)
    ).json()
    assert (view["installation"]["state"], view["installation"]["conversation_type"]) == (
        "installed",
        "groupChat",
    )


# --- Messenger ----------------------------------------------------------------------------------


def test_a_messenger_menu_is_applied_when_saved_and_its_postback_is_answered_as_a_turn(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake = stack.providers.messenger
    scenario = MessengerScenario(page_token="FAKE_PAGE_TOKEN_" + uuid.uuid4().hex)
    menu_item = {"type": "postback", "title": "Opening hours", "payload": "OPENING_HOURS"}
    profile = {
        "get_started": {"payload": "GET_STARTED"},
        "persistent_menu": [
            {"locale": "default", "composer_input_disabled": False, "call_to_actions": [menu_item]}
        ],
    }
    url = connect(
        stack, settings, tenant, {**scenario.registration(), "messenger_profile": profile}
    )
    assert fake.profiles[scenario.account_id] == profile
    calls = [
        (r.method, r.json())
        for r in fake.requests_to("/me/messenger_profile")
        if r.headers.get("authorization") == f"Bearer {scenario.page_token}"
    ]
    # What the config leaves out is cleared from the page, so it shows nothing set elsewhere.
    assert calls == [("DELETE", {"fields": ["greeting"]}), ("POST", profile)]

    tap = fb.postback(scenario.account_id, scenario.user, "OPENING_HOURS", "Opening hours")
    assert post(url, fb.signed_webhook(tap, scenario.app_secret)).status_code == 200

    sent = eventually(
        lambda: [b for b in fake.sent() if b["recipient"]["id"] == scenario.user],
        "the answer to the tap",
    )
    assert [b["message"]["text"] for b in sent] == [HOURS]
    [turn] = inbound(db, tenant)
    assert turn["content"] == {"type": "postback", "id": "OPENING_HOURS", "title": "Opening hours"}
