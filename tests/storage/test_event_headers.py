"""Every record the producer writes names its CloudEvent in binary ``ce_*`` headers as well."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from kafka_reader import EventReader

from core.cloudevents import CloudEvent
from core.settings import Settings
from storage.kafka_producer import EventPublisher, StagedEvent
from storage.outbox import stage


def test_a_published_record_carries_ce_headers_equal_to_its_bodys_attributes(
    settings: Settings,
) -> None:
    topic = f"test.headers.{uuid.uuid4().hex[:8]}"
    event = CloudEvent(
        id=f"evt_{uuid.uuid4().hex[:8]}",
        type=topic,
        source="/parley/pipeline",
        subject="msg_1",
        time=datetime(2026, 12, 4, 14, 30, tzinfo=UTC),
        tenant_id="t_headers",
        partition_key="conv_1",
        data={"text": "hello"},
    )
    entry = stage(event)
    reader = EventReader(settings.kafka_bootstrap, [topic])
    publisher = EventPublisher(settings.kafka_bootstrap)
    try:
        staged = StagedEvent(entry["id"], entry["topic"], entry["key"], entry["value"], "msg_1")
        assert publisher.publish_staged([staged], 15, lambda _: None) == 1
        reader.collect(lambda events: len(events) == 1, timeout=30)
    finally:
        publisher.close()
        reader.close()
    [(_, key, body, headers)] = reader.seen
    assert key == b"conv_1"
    assert body == json.loads(entry["value"])
    attributes = ("specversion", "id", "type", "source", "subject", "time", "tenantid")
    assert {k: v.decode() for k, v in headers.items() if k.startswith("ce_")} == {
        f"ce_{name}": body[name] for name in attributes
    }
    assert headers["content-type"] == b"application/cloudevents+json; charset=utf-8"
