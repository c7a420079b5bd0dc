"""Interactive inbound end to end: a click on a bot's control becomes the next turn and the
clicked message shows the choice — through the real ingress, workers, engine and services,
with the providers' fakes as real HTTP servers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from channel_scenarios import SlackScenario
from processes import ProcessGroup, running_platform
from pymongo.database import Database
from testenv import ENGINE_PORT, free_port

from core.settings import Settings
from core.tokens import mint_token
from tests.fakes import slack as sl
from tests.fakes.accounts import ProviderAccounts

pytestmark = pytest.mark.e2e

HOURS = "We are open Monday to Friday, 9:00 to 18:00."
T = TypeVar("T")


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


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


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


def post(url: str, signed: tuple[bytes, dict[str, str]]) -> httpx.Response:
    raw, headers = signed
    return httpx.post(url, content=raw, headers=headers)


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
