"""The ``notifications`` handler on real Redis and MongoDB, its alerts sent to real local
servers (SMTP, a Slack incoming webhook, a Twilio-compatible SMS API): one incident is one
alert per target, a quiet period holds the next, a redelivered event counts once, and an
alert that failed is sent by the retry without consuming the quiet period."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from consumer_kit import poll_until
from pydantic import SecretStr
from pymongo.database import Database

from channels.alerts import AlertNotSent
from consumers.handler import Event
from consumers.notifications import Notifications
from core.cloudevents import CloudEvent
from core.settings import Settings
from storage.incidents import IncidentGate
from storage.notification_rules import NotificationRuleRepository
from tests.fakes.slack_webhook import SlackWebhook
from tests.fakes.sms_api import SmsApi
from tests.fakes.smtp_server import SmtpServer
from tests.fakes.webhook_endpoint import WebhookEndpoint

EMAIL, PHONE = "ops@tenant.example", "+15551234567"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackWebhook]:
    with SlackWebhook() as server:
        yield server


@pytest.fixture(scope="module")
def sms() -> Iterator[SmsApi]:
    with SmsApi() as server:
        yield server


@pytest.fixture(scope="module")
def alerting(settings: Settings, smtp: SmtpServer, sms: SmsApi) -> Settings:
    """The test settings read with the fakes' environment, as a deployment's would be."""
    env = {**smtp.env(), **sms.env(), "PARLEY_WEBHOOKS_ALLOW_PRIVATE": "1"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        read = Settings(alert_timeout_seconds=3.0)
    assert read.smtp_port == smtp.port and read.sms_auth_token is not None
    return read


@pytest.fixture
def handler(db: Database[Any], alerting: Settings, redis_client: redis.Redis) -> Notifications:
    return Notifications(db, alerting)


def rule(
    db: Database[Any], tenant: str, condition: dict[str, Any], hook: str, quiet: int = 3600
) -> str:
    notify = [{"email": EMAIL}, {"slack_webhook_url": hook}, {"sms": PHONE}]
    return str(NotificationRuleRepository(db).create(tenant, condition, notify, quiet)["_id"])


def event(tenant: str, kind: str, data: dict[str, Any], event_id: str | None = None) -> Event:
    return CloudEvent(
        id=event_id or f"evt_{uuid.uuid4().hex[:16]}",
        type=kind,
        source="/parley/tests",
        subject="msg_1",
        time=datetime.now(UTC),
        tenant_id=tenant,
        partition_key="conv_1",
        data=data,
    ).to_dict()


def dead_letter(tenant: str, event_id: str | None = None) -> Event:
    data = {
        "kind": "dead_letter",
        "reason": "retries_exhausted",
        "stage": "deliver",
        "message_id": "msg_1",
        "conversation_id": "conv_1",
        "channel": "whatsapp",
        "error": "the provider answered 503",
        "subscription_id": None,
        "url": None,
        "target": None,
    }
    return event(tenant, "system.error", data, event_id)


def counts(smtp: SmtpServer, slack: SlackWebhook, sms: SmsApi, hook: str) -> tuple[int, int, int]:
    return len(smtp.to(EMAIL)), len(slack.to(hook)), len(sms.to(PHONE))


@pytest.fixture
def hook(slack: SlackWebhook) -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(autouse=True)
def _fresh_recipients(smtp: SmtpServer, sms: SmsApi) -> None:
    smtp.emails.clear()
    sms.messages.clear()


def test_six_dead_letters_over_a_rule_of_five_alert_once_on_every_target(
    handler: Notifications,
    db: Database[Any],
    tenant: str,
    smtp: SmtpServer,
    slack: SlackWebhook,
    sms: SmsApi,
    hook: str,
) -> None:
    rule_id = rule(
        db,
        tenant,
        {"kind": "dead_letters_above", "count": 5, "window_seconds": 600},
        slack.url(hook),
    )
    for _ in range(5):
        handler.handle(dead_letter(tenant))
    assert counts(smtp, slack, sms, hook) == (0, 0, 0)
    handler.handle(dead_letter(tenant))
    email = smtp.wait_for(EMAIL, 1)[0]
    assert "dead-lettered" in email.subject and tenant in email.subject
    assert "6 messages were dead-lettered" in email.text
    assert email.sender == "alerts@parley.test"
    assert "6 messages" in slack.wait_for(hook, 1)[0]["text"]
    message = sms.wait_for(PHONE, 1)[0]
    assert message["From"] == sms.sender and "6 messages" in message["Body"]
    for _ in range(4):  # the same incident, inside the quiet period
        handler.handle(dead_letter(tenant))
    assert counts(smtp, slack, sms, hook) == (1, 1, 1)
    alerts = list(db["notifications"].find({"tenant_id": tenant}))
    assert len(alerts) == 1 and alerts[0]["rule_id"] == rule_id and alerts[0]["outcome"] == "sent"
    assert [t["outcome"] for t in alerts[0]["targets"]] == ["sent", "sent", "sent"]
    assert hook not in str(alerts[0])  # the Slack URL's secret path stays out of the log


def test_a_redelivered_event_counts_once(
    handler: Notifications,
    db: Database[Any],
    tenant: str,
    smtp: SmtpServer,
    slack: SlackWebhook,
    sms: SmsApi,
    hook: str,
) -> None:
    rule(
        db,
        tenant,
        {"kind": "dead_letters_above", "count": 1, "window_seconds": 600},
        slack.url(hook),
    )
    again = dead_letter(tenant)
    for _ in range(3):
        handler.handle(again)
    assert counts(smtp, slack, sms, hook) == (0, 0, 0)
    handler.handle(dead_letter(tenant))
    assert "2 messages" in smtp.wait_for(EMAIL, 1)[0].text


def test_after_the_quiet_period_a_new_incident_alerts_again(
    handler: Notifications,
    db: Database[Any],
    tenant: str,
    smtp: SmtpServer,
    slack: SlackWebhook,
    sms: SmsApi,
    hook: str,
    redis_client: redis.Redis,
) -> None:
    rule_id = rule(
        db,
        tenant,
        {"kind": "dead_letters_above", "count": 0, "window_seconds": 600},
        slack.url(hook),
        quiet=1,
    )
    handler.handle(dead_letter(tenant))
    smtp.wait_for(EMAIL, 1)
    gate = IncidentGate(redis_client)
    poll_until(lambda: not gate.quiet(tenant, rule_id, ""), 30, "the quiet period over")
    handler.handle(dead_letter(tenant))
    assert len(smtp.wait_for(EMAIL, 2)) == 2
    assert len(slack.wait_for(hook, 2)) == 2 and len(sms.wait_for(PHONE, 2)) == 2
    assert db["notifications"].count_documents({"tenant_id": tenant}) == 2


def test_a_failed_email_raises_and_the_retry_sends_it_without_sending_the_others_twice(
    handler: Notifications,
    db: Database[Any],
    tenant: str,
    smtp: SmtpServer,
    slack: SlackWebhook,
    sms: SmsApi,
    hook: str,
) -> None:
    rule(db, tenant, {"kind": "endpoint_disabled"}, slack.url(hook))
    disabled = event(
        tenant,
        "system.error",
        {
            "kind": "endpoint_disabled",
            "reason": "the endpoint answered 410 Gone",
            "subscription_id": "whs_1",
            "url": "https://x.example/h",
        },
    )
    smtp.stop()
    try:
        with pytest.raises(AlertNotSent, match="SMTP"):
            handler.handle(disabled)
    finally:
        smtp.start()
    assert counts(smtp, slack, sms, hook) == (0, 1, 1)
    alert = db["notifications"].find_one({"tenant_id": tenant})
    assert alert is not None and alert["outcome"] == "sending"
    assert [t["outcome"] for t in alert["targets"]] == ["failed", "sent", "sent"]
    handler.handle(disabled)  # the runtime's retry of the same event
    email = smtp.wait_for(EMAIL, 1)[0]
    assert "whs_1 was disabled: the endpoint answered 410 Gone" in email.text
    assert counts(smtp, slack, sms, hook) == (1, 1, 1)
    handler.handle(disabled)
    assert counts(smtp, slack, sms, hook) == (1, 1, 1)


def test_a_target_whose_channel_is_not_configured_is_skipped_and_recorded(
    db: Database[Any],
    settings: Settings,
    tenant: str,
    slack: SlackWebhook,
    hook: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bare = Notifications(db, settings.model_copy(update={"webhooks_allow_private": True}))
    rule(db, tenant, {"kind": "credentials_refused", "channel": None}, slack.url(hook))
    refused = {
        "target": "whatsapp",
        "operation": "send",
        "status": 401,
        "outcome": "error",
        "latency_ms": 3.0,
        "channel": "whatsapp",
        "message_id": "msg_1",
    }
    bare.handle(event(tenant, "integration.api.called", refused))
    assert "whatsapp refused Parley's credentials" in slack.wait_for(hook, 1)[0]["text"]
    alert = db["notifications"].find_one({"tenant_id": tenant})
    assert alert is not None and alert["outcome"] == "sent" and alert["subject"] == "whatsapp"
    assert [t["outcome"] for t in alert["targets"]] == ["skipped", "sent", "skipped"]
    assert "PARLEY_SMTP_HOST" in caplog.text and "PARLEY_SMS_ACCOUNT_SID" in caplog.text


def test_credentials_refused_alerts_per_channel_and_only_for_providers(
    handler: Notifications,
    db: Database[Any],
    tenant: str,
    smtp: SmtpServer,
    slack: SlackWebhook,
    hook: str,
) -> None:
    rule(db, tenant, {"kind": "credentials_refused", "channel": None}, slack.url(hook))

    def called(target: str, status: int) -> Event:
        data = {
            "target": target,
            "operation": "send",
            "status": status,
            "outcome": "error",
            "latency_ms": 2.0,
            "channel": target,
            "message_id": None,
        }
        return event(tenant, "integration.api.called", data)

    handler.handle(called("engine", 401))  # not a provider's refusal
    handler.handle(called("whatsapp", 500))  # not a refusal
    assert smtp.to(EMAIL) == []
    handler.handle(called("whatsapp", 401))
    handler.handle(called("whatsapp", 403))  # the same incident
    handler.handle(called("slack", 403))  # another channel: another incident
    emails = smtp.wait_for(EMAIL, 2)
    assert len(emails) == 2
    assert {e.text.split(" ")[0] for e in emails} == {"whatsapp", "slack"}


def test_a_delivery_rate_below_the_rule_alerts_once_enough_were_sent(
    handler: Notifications,
    db: Database[Any],
    tenant: str,
    smtp: SmtpServer,
    slack: SlackWebhook,
    hook: str,
) -> None:
    condition = {"kind": "delivery_rate_below", "percent": 50, "window_seconds": 600, "min_sent": 4}
    rule(db, tenant, condition, slack.url(hook))
    message = {
        "conversation_id": "conv_1",
        "channel": "whatsapp",
        "direction": "outbound",
        "user_id": "u",
        "text": "hi",
    }
    for n in range(3):
        handler.handle(event(tenant, "chat.message.sent", {**message, "message_id": f"msg_{n}"}))
    handler.handle(
        event(
            tenant,
            "chat.message.delivered",
            {**message, "message_id": "msg_0", "status": "delivered"},
            "msg_0:delivered",
        )
    )
    assert smtp.to(EMAIL) == []  # 3 sent: fewer than min_sent
    handler.handle(event(tenant, "chat.message.sent", {**message, "message_id": "msg_3"}))
    assert "Only 1 of 4 replies" in smtp.wait_for(EMAIL, 1)[0].text


def test_a_target_refused_for_good_is_recorded_and_does_not_hold_the_incident_open(
    db: Database[Any],
    alerting: Settings,
    tenant: str,
    smtp: SmtpServer,
    redis_client: redis.Redis,
) -> None:
    # Slack's answer for an archived channel, and an SMS account whose token is wrong.
    wrong_token = alerting.model_copy(update={"sms_auth_token": SecretStr("not-the-token")})
    handler = Notifications(db, wrong_token)
    with WebhookEndpoint() as archived:
        archived.answer("/services/T0/B0/gone", 410)
        rule_id = rule(
            db, tenant, {"kind": "endpoint_disabled"}, archived.url("/services/T0/B0/gone")
        )
        disabled = {"kind": "endpoint_disabled", "reason": "410", "subscription_id": "whs_2"}
        handler.handle(event(tenant, "system.error", disabled))  # no raise: retrying cannot help
        assert len(archived.received("/services/T0/B0/gone")) == 1
    assert len(smtp.wait_for(EMAIL, 1)) == 1
    alert = db["notifications"].find_one({"tenant_id": tenant})
    assert alert is not None and alert["outcome"] == "sent"
    assert [t["outcome"] for t in alert["targets"]] == ["sent", "refused", "refused"]
    assert "HTTP 410" in alert["targets"][1]["error"]
    assert "HTTP 401" in alert["targets"][2]["error"]
    assert IncidentGate(redis_client).quiet(tenant, rule_id, "whs_2")
