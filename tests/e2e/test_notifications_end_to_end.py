"""A notification rule on the real platform's event path: dead-letter events published to Kafka
through Parley's own producer (as the outbox relay does), read back by a real
``parley consume notifications`` process, alert the tenant by email at a real SMTP server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from processes import ProcessGroup

from core.cloudevents import CloudEvent
from core.settings import Settings
from storage.kafka_producer import EventPublisher, StagedEvent
from storage.notification_rules import NotificationRuleRepository
from storage.outbox import stage
from tests.fakes.smtp_server import SmtpServer

pytestmark = pytest.mark.e2e

TOPIC = "system.error"
GROUP_PREFIX = f"parley-test-{uuid.uuid4().hex[:8]}."


def _dead_letter(tenant: str, n: int) -> CloudEvent:
    return CloudEvent(
        id=f"evt_{uuid.uuid4().hex[:16]}",
        type=TOPIC,
        source="/parley/tests",
        subject=f"msg_{n}",
        time=datetime.now(UTC),
        tenant_id=tenant,
        partition_key=f"conv_{n}",
        data={
            "kind": "dead_letter",
            "reason": "retries_exhausted",
            "stage": "deliver",
            "message_id": f"msg_{n}",
            "conversation_id": f"conv_{n}",
            "channel": "whatsapp",
            "error": "the provider answered 503",
            "subscription_id": None,
            "url": None,
            "target": None,
        },
    )


def _publish(bootstrap: str, events: list[CloudEvent]) -> None:
    publisher = EventPublisher(bootstrap)
    try:
        batch = [
            StagedEvent(e["id"], e["topic"], e["key"], e["value"], "-") for e in map(stage, events)
        ]
        assert publisher.publish_staged(batch, 30, lambda _: None) == len(batch)
    finally:
        publisher.close()


def _start_at_the_end(bootstrap: str, group: str) -> None:
    """The group's offsets at the topic's end: the consumer reads this test's events only."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.list_topics(TOPIC, timeout=20).topics[TOPIC]
        offsets = [
            TopicPartition(
                TOPIC, p, consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=15)[1]
            )
            for p in found.partitions
        ]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def consumer(
    tmp_path: Path, settings: Settings, smtp: SmtpServer, db: Any, tenant: str
) -> Iterator[ProcessGroup]:
    # One event of a tenant without rules makes sure the topic exists before the offsets are set.
    _publish(settings.kafka_bootstrap, [_dead_letter(tenant + "-none", 0)])
    _start_at_the_end(settings.kafka_bootstrap, f"{GROUP_PREFIX}notifications")
    env = {**smtp.env(), "PARLEY_CONSUMER_GROUP_PREFIX": GROUP_PREFIX}
    processes = ProcessGroup(tmp_path)
    try:
        processes.start("consume-notifications", "consume", "notifications", env=env)
        yield processes
    finally:
        processes.stop()


def test_dead_letters_above_a_rule_reach_the_tenant_by_email(
    consumer: ProcessGroup, settings: Settings, smtp: SmtpServer, db: Any, tenant: str
) -> None:
    address = f"ops-{tenant}@tenant.example"
    condition = {"kind": "dead_letters_above", "count": 2, "window_seconds": 600}
    NotificationRuleRepository(db).create(tenant, condition, [{"email": address}], 3600)
    events = [_dead_letter(tenant, n) for n in range(1, 5)]
    _publish(settings.kafka_bootstrap, events)
    try:
        email = smtp.wait_for(address, 1, timeout=120)[0]
    except AssertionError:
        consumer.assert_running()
        raise AssertionError(consumer.log("consume-notifications")) from None
    assert "dead-lettered" in email.subject and tenant in email.subject
    assert "messages were dead-lettered in the last 10 minutes" in email.text
    consumer.assert_running()
    # Four dead letters over a rule of two: one incident, one email, once all four are handled.
    handled = {"_id": {"$in": [f"notifications:{e.id}" for e in events]}}
    deadline = time.monotonic() + 60
    while db["processed_events"].count_documents(handled) < len(events):
        assert time.monotonic() < deadline, "not every event was handled"
        time.sleep(0.1)
    alerts = list(db["notifications"].find({"tenant_id": tenant}))
    assert len(alerts) == 1 and alerts[0]["targets"][0]["outcome"] == "sent"
    assert len(smtp.to(address)) == 1
