"""A WABA's templates read from Graph (all pages), stored per account, and template sends
checked against them before any call."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from channels.base import SendRejected
from channels.runtime import ChannelRuntime, ProviderUrls
from channels.whatsapp_templates import fetch_templates, parameter_counts
from core.envelopes import ChannelConfig
from core.templates import MessageTemplate, template_problem
from storage.templates import TemplateRepository
from tests.fakes.whatsapp import DEFAULT_WABA_ID, SAMPLE_DEFINITIONS, FakeWhatsApp

TOKEN = "FAKE_whatsapp_access_token"
CONFIG = ChannelConfig(
    id="cc_whatsapp",
    tenant_id="t_shop",
    channel="whatsapp",
    account_id="200000000000001",
    secrets={"access_token": TOKEN},
    options={"business_account_id": DEFAULT_WABA_ID},
)
SHIPPED: dict[str, Any] = {
    "type": "template",
    "name": "order_shipped_v1",
    "language": {"code": "en_US"},
    "components": [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x/p.jpg"}}]},
        {
            "type": "body",
            "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#1"}],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "OK"}],
        },
    ],
}


@pytest.fixture
def fake() -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp(access_token=TOKEN) as server:
        yield server


@pytest.fixture
def runtime(fake: FakeWhatsApp) -> Iterator[ChannelRuntime]:
    with httpx.Client() as client:
        yield ChannelRuntime(client, ProviderUrls(whatsapp_api=fake.base_url), send_timeout=5.0)


def test_every_page_of_the_waba_templates_is_read(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    for n in range(120):
        fake.add_template(
            f"promo_{n:03d}", [{"type": "BODY", "text": "Hi {{1}}"}], status="PENDING"
        )
    found = fetch_templates(CONFIG, runtime)
    assert len(found) == 121
    listed = [r for r in fake.requests if r.path == f"/{DEFAULT_WABA_ID}/message_templates"]
    assert len(listed) == 2  # two pages of 100
    assert listed[0].query["fields"] == "name,language,status,category,components"
    assert "after" not in listed[0].query and listed[1].query["after"]
    assert found[0] == MessageTemplate(
        "order_shipped_v1", "en_US", "APPROVED", "UTILITY", {"header": 1, "body": 2, "button:0": 1}
    )
    assert found[-1] == MessageTemplate("promo_119", "en_US", "PENDING", "UTILITY", {"body": 1})


def test_the_counts_read_from_a_definition_are_what_graph_accepts_in_a_send() -> None:
    assert parameter_counts(SAMPLE_DEFINITIONS[0]["components"]) == {
        "header": 1,
        "body": 2,
        "button:0": 1,
    }
    url = [
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "URL", "url": "https://x/{{1}}"},
                {"type": "URL", "url": "https://x/"},
            ],
        }
    ]
    assert parameter_counts(url) == {"button:0": 1}


def test_an_unknown_waba_is_refused_for_good(fake: FakeWhatsApp, runtime: ChannelRuntime) -> None:
    other = replace(CONFIG, options={"business_account_id": "999"})
    with pytest.raises(SendRejected, match="graph error 100"):
        fetch_templates(other, runtime)
    with pytest.raises(SendRejected, match="business_account_id"):
        fetch_templates(replace(CONFIG, options={}), runtime)


def test_a_template_send_is_checked_against_the_known_one() -> None:
    known = MessageTemplate(
        "order_shipped_v1", "en_US", "APPROVED", "UTILITY", {"header": 1, "body": 2, "button:0": 1}
    )
    assert template_problem(SHIPPED, known) is None
    assert "not one of the account's templates" in str(template_problem(SHIPPED, None))
    pending = replace(known, status="PENDING")
    assert "is PENDING, not APPROVED" in str(template_problem(SHIPPED, pending))
    short = {**SHIPPED, "components": SHIPPED["components"][:2]}
    assert "button:0 takes 1 parameter(s), 0 given" in str(template_problem(short, known))
    body = {**SHIPPED["components"][1], "parameters": SHIPPED["components"][1]["parameters"][:1]}
    fewer = {**SHIPPED, "components": [SHIPPED["components"][0], body, SHIPPED["components"][2]]}
    assert "body takes 2 parameter(s), 1 given" in str(template_problem(fewer, known))


def test_a_sync_replaces_the_account_set_and_refusals_read_it(db: Any) -> None:
    repo = TemplateRepository(db)
    tenant = "t_" + uuid.uuid4().hex[:10]
    config = replace(CONFIG, tenant_id=tenant)
    approved = MessageTemplate(
        "order_shipped_v1", "en_US", "APPROVED", "UTILITY", {"header": 1, "body": 2, "button:0": 1}
    )
    old = MessageTemplate("old_one", "en_US", "APPROVED", "UTILITY", {})
    repo.replace(tenant, config.id, [approved, old])
    repo.replace(tenant, config.id, [approved])
    assert [d["name"] for d in repo.list(tenant)] == ["order_shipped_v1"]
    assert repo.refusal(config, [SHIPPED]) is None
    gone = {"type": "template", "name": "old_one", "language": {"code": "en_US"}}
    assert "not one of the account's templates" in str(
        repo.refusal(config, [{"type": "text", "text": "x"}, gone])
    )
    # An account that names no WABA has nothing synced to check against: Graph judges.
    assert repo.refusal(replace(config, options={}), [gone]) is None
    assert repo.list("t_other_" + tenant) == []
