"""``POST /v1/outbound`` end to end (docs/outbound.md): the providers' 24-hour windows and the
account's templates checked before anything is stored, then the message sent through the deliver
stage to the provider's fake and moved on by its status callbacks, on the real ingress, workers,
engine and services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from channel_scenarios import MessengerScenario, SlackScenario, WhatsAppScenario, post
from processes import running_platform
from pymongo.database import Database
from testenv import ENGINE_PORT, free_port
from waiting import eventually

from core.settings import Settings
from core.timeutil import utcnow
from tests.credentials import tenant_headers
from tests.fakes.accounts import ProviderAccounts
from tests.fakes.whatsapp import DEFAULT_WABA_ID
from tests.processes import run_parley

pytestmark = pytest.mark.e2e

HOURS = "We are open Monday to Friday, 9:00 to 18:00."
IMAGE = {"type": "image", "image": {"link": "https://example.com/parcel.png"}}
BODY = [{"type": "text", "text": "Ana"}, {"type": "text", "text": "1234"}]
BUTTON = [{"type": "payload", "payload": "CONFIRM"}]
TEMPLATE: dict[str, Any] = {
    "name": "order_shipped_v1",
    "language": "en_US",
    "components": [
        {"type": "header", "parameters": [IMAGE]},
        {"type": "body", "parameters": BODY},
        {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": BUTTON},
    ],
}


class Stack:
    def __init__(self, base: str, providers: ProviderAccounts) -> None:
        self.base = base
        self.providers = providers


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, db: Any, broker: Any) -> Iterator[Stack]:
    logs: Path = tmp_path_factory.mktemp("outbound-logs")
    with ExitStack() as stack:
        providers = stack.enter_context(ProviderAccounts())
        base, _ = stack.enter_context(
            running_platform(logs, ENGINE_PORT, free_port(), providers.env)
        )
        yield Stack(base, providers)


def connect(
    stack: Stack, headers: dict[str, str], scenario: Any, **options: str
) -> tuple[str, str]:
    """The scenario's account registered (its fake proves it): (config id, webhook url)."""
    registration = dict(stack.providers.own(scenario.registration()))
    if options:
        registration["options"] = options
    created = httpx.post(f"{stack.base}/v1/admin/channels", headers=headers, json=registration)
    assert created.status_code == 201, created.text
    config_id = created.json()["id"]
    return config_id, f"{stack.base}/webhooks/{scenario.channel}/{config_id}"


def heard_from(db: Database[Any], tenant: str, user: str, hours: float) -> None:
    """The user's conversation as if they had last written ``hours`` ago."""
    then = utcnow() - timedelta(hours=hours)
    changed = db["conversations"].update_many(
        {"tenant_id": tenant, "user_id": user},
        {"$set": {"last_inbound_at": then, "created_at": then}},
    )
    assert changed.matched_count == 1


def a_turn(stack: Stack, db: Database[Any], tenant: str, url: str, scenario: Any) -> None:
    """The user writes and is answered: their conversation exists, and they were heard."""
    assert post(url, scenario.inbound_text("What are your opening hours?")).status_code == 200
    eventually(
        lambda: db["messages"].find_one(
            {"tenant_id": tenant, "direction": "inbound", "status": "completed"}
        ),
        "the user's turn",
    )


def outbound(stack: Stack, headers: dict[str, str], body: dict[str, Any], **more: str) -> Any:
    return httpx.post(f"{stack.base}/v1/outbound", headers={**headers, **more}, json=body)


def stored_outbound(db: Database[Any], tenant: str) -> list[dict[str, Any]]:
    return list(db["messages"].find({"tenant_id": tenant, "proactive": True}))


def test_whatsapp_free_text_outside_the_window_is_refused_and_an_approved_template_is_delivered(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake = stack.providers.whatsapp
    headers = tenant_headers(settings, tenant, subject="ops")
    scenario = WhatsAppScenario()
    config_id, url = connect(stack, headers, scenario, business_account_id=DEFAULT_WABA_ID)
    synced = run_parley("templates", "sync", "--tenant", tenant, **stack.providers.env)
    assert synced.returncode == 0, synced.stderr
    a_turn(stack, db, tenant, url, scenario)
    heard_from(db, tenant, scenario.user, hours=25)
    sends_before = len(fake.sent)

    text = {"channel_config_id": config_id, "to": scenario.user, "text": "Your order shipped"}
    refused = outbound(stack, headers, text)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("outside-customer-service-window")
    assert "24-hour" in problem["detail"] and "template" in problem["detail"]
    wrong = {**TEMPLATE, "components": TEMPLATE["components"][1:]}  # the header's image left out
    for template, kind in (
        (wrong, "template-refused"),
        ({**TEMPLATE, "name": "nope"}, "template-refused"),
    ):
        answer = outbound(
            stack,
            headers,
            {"channel_config_id": config_id, "to": scenario.user, "template": template},
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["type"].endswith(kind)
    assert stored_outbound(db, tenant) == [] and len(fake.sent) == sends_before

    accepted = outbound(
        stack,
        headers,
        {"channel_config_id": config_id, "to": scenario.user, "template": TEMPLATE},
        **{"Idempotency-Key": "shipped-1234"},
    )

    assert accepted.status_code == 202, accepted.text
    message_id = accepted.json()["message_id"]
    assert accepted.headers["location"] == f"/v1/messages/{message_id}"
    sent = eventually(
        lambda: [s for s in fake.sent if s.body.get("type") == "template"], "the template send"
    )
    assert sent[0].body["to"] == scenario.user
    assert sent[0].body["template"]["name"] == "order_shipped_v1"
    assert sent[0].body["template"]["language"] == {"code": "en_US"}
    eventually(lambda: db["messages"].find_one({"_id": message_id, "status": "sent"}), "sent")
    assert post(url, scenario.status(sent[0].wamid, "delivered")).status_code == 200
    shown = eventually(
        lambda: (lambda m: m if m.get("status") == "delivered" else None)(
            httpx.get(f"{stack.base}/v1/messages/{message_id}", headers=headers).json()
        ),
        "the message delivered",
    )
    assert shown["direction"] == "outbound"
    # Asked again with the same key: the first answer, nothing sent twice.
    again = outbound(
        stack,
        headers,
        {"channel_config_id": config_id, "to": scenario.user, "template": TEMPLATE},
        **{"Idempotency-Key": "shipped-1234"},
    )
    assert (again.status_code, again.json()["message_id"]) == (202, message_id)
    assert again.headers["idempotent-replayed"] == "true"
    other_body = outbound(
        stack, headers, text | {"text": "else"}, **{"Idempotency-Key": "shipped-1234"}
    )
    assert other_body.status_code == 422 and other_body.json()["type"].endswith("key-reused")
    assert len(stored_outbound(db, tenant)) == 1
    assert len([s for s in fake.sent if s.body.get("type") == "template"]) == 1


def test_whatsapp_free_text_inside_the_window_is_sent(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake = stack.providers.whatsapp
    headers = tenant_headers(settings, tenant, subject="ops")
    scenario = WhatsAppScenario()
    config_id, url = connect(stack, headers, scenario)
    a_turn(stack, db, tenant, url, scenario)
    heard_from(db, tenant, scenario.user, hours=23)

    body = {"channel_config_id": config_id, "to": scenario.user, "text": "Your parcel is here"}
    answer = outbound(stack, headers, body)

    assert answer.status_code == 202, answer.text
    sent = eventually(
        lambda: [
            s for s in fake.sent if s.body.get("text", {}).get("body") == "Your parcel is here"
        ],
        "the send",
    )
    assert sent[0].body["to"] == scenario.user
    conversation = db["conversations"].find_one({"tenant_id": tenant, "user_id": scenario.user})
    assert conversation is not None
    assert answer.json()["conversation_id"] == conversation["_id"]  # the user's conversation


def test_messenger_outside_the_window_needs_a_tag_and_sends_it(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    fake = stack.providers.messenger
    headers = tenant_headers(settings, tenant, subject="ops")
    scenario = MessengerScenario()
    config_id, url = connect(stack, headers, scenario)
    a_turn(stack, db, tenant, url, scenario)
    heard_from(db, tenant, scenario.user, hours=30)
    body = {"channel_config_id": config_id, "to": scenario.user, "text": "Your booking moved"}

    refused = outbound(stack, headers, body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("outside-standard-messaging-window")
    answer = outbound(stack, headers, body | {"tag": "CONFIRMED_EVENT_UPDATE"})

    assert answer.status_code == 202, answer.text
    sent = eventually(
        lambda: [
            b
            for r in list(fake.requests)
            if r.path.endswith("/me/messages")
            and (b := r.json()).get("recipient", {}).get("id") == scenario.user
            and b.get("messaging_type") == "MESSAGE_TAG"
        ],
        "the tagged send",
    )
    assert sent[0]["tag"] == "CONFIRMED_EVENT_UPDATE"
    assert sent[0]["message"]["text"] == "Your booking moved"


def test_bad_requests_are_refused_and_leave_nothing(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    headers = tenant_headers(settings, tenant, subject="ops")
    slack = SlackScenario()
    slack_id, _ = connect(stack, headers, slack)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"channel_config_id": slack_id, "to": "U1", "text": "hi"}, 422, "unsupported-channel"),
        ({"channel_config_id": "cfg_nope", "to": "1", "text": "hi"}, 404, "not-found"),
        ({"channel_config_id": slack_id, "to": "U1"}, 422, "validation-error"),
        (
            {"channel_config_id": slack_id, "to": "U1", "text": "hi", "template": TEMPLATE},
            422,
            "validation-error",
        ),
        ({"channel_config_id": slack_id, "to": "U1", "text": "   "}, 422, "validation-error"),
        (
            {"channel_config_id": slack_id, "to": "U1", "text": "hi", "tag": "PROMO"},
            422,
            "validation-error",
        ),
    ]
    for body, status, kind in cases:
        answer = outbound(stack, headers, body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["type"].endswith(kind), (body, answer.text)
    reader = tenant_headers(settings, tenant, scopes=["messages:read"])
    assert outbound(stack, reader, cases[0][0]).status_code == 403
    assert stored_outbound(db, tenant) == []
