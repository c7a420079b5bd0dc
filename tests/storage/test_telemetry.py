"""The telemetry queue: recorded events reach Kafka through the relay, and leave the queue only
once Kafka took every one of them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import redis
from kafka_reader import EventReader
from testenv import free_port

from core.event_types import AUTH
from core.settings import Settings
from core.system_events import auth_event
from storage.kafka_producer import EventPublisher
from storage.leases import Leases
from storage.telemetry import QUEUE, Telemetry, TelemetryBuffer


@pytest.fixture
def telemetry(redis_client: redis.Redis) -> Iterator[Telemetry]:
    redis_client.delete(QUEUE)
    yield Telemetry(redis_client)
    redis_client.delete(QUEUE)


def test_recorded_events_are_published_once_kafka_took_them_and_then_leave_the_queue(
    telemetry: Telemetry, redis_client: redis.Redis, settings: Settings
) -> None:
    tenant = f"t_{uuid.uuid4().hex[:8]}"
    events = [auth_event(tenant, "api_key", n % 2 == 0, "/v1/messages") for n in range(3)]
    telemetry.record(events)
    assert telemetry.waiting() == 3

    nobody = EventPublisher(f"127.0.0.1:{free_port()}", client_id="parley-test-nobody")
    assert telemetry.relay(nobody, Leases(redis_client), limit=100, timeout=1.0) == 0
    assert telemetry.waiting() == 3  # Kafka took none: all still queued

    reader = EventReader(settings.kafka_bootstrap, [AUTH])
    publisher = EventPublisher(settings.kafka_bootstrap, client_id="parley-test-telemetry")
    try:
        assert telemetry.relay(publisher, Leases(redis_client), limit=100, timeout=20) == 3
        ids = {event.id for event in events}
        reader.collect(lambda seen: ids <= {e["id"] for e in seen}, 30)
        ours = [(key, body) for _, key, body, _ in reader.seen if body["id"] in ids]
    finally:
        reader.close()
        publisher.close()
    assert telemetry.waiting() == 0
    assert [body["id"] for _, body in ours] == [event.id for event in events]  # in order
    assert {key for key, _ in ours} == {tenant.encode()}
    assert [body["data"]["outcome"] for _, body in ours] == ["success", "failure", "success"]


def test_the_buffer_queues_its_events_in_one_flush(
    telemetry: Telemetry, redis_client: redis.Redis
) -> None:
    buffer = TelemetryBuffer(telemetry)
    for _ in range(5):
        buffer.add(auth_event("t_buffer", "token", False, "/v1/messages", reason="expired"))
    assert telemetry.waiting() == 0  # nothing leaves memory before the flush
    assert buffer.flush() == 5
    assert buffer.flush() == 0
    queued = [json.loads(value) for value in redis_client.lrange(QUEUE, 0, -1)]
    assert [(e["type"], e["data"]["reason"]) for e in queued] == [(AUTH, "expired")] * 5


def test_a_relay_holding_the_lease_keeps_a_second_one_out(
    telemetry: Telemetry, redis_client: redis.Redis, settings: Settings
) -> None:
    telemetry.record([auth_event("t_lease", "token", True, "/v1/messages")])
    leases = Leases(redis_client)
    held = leases.acquire("telemetry-relay", 30)
    assert held is not None
    publisher = EventPublisher(settings.kafka_bootstrap, client_id="parley-test-telemetry")
    try:
        assert telemetry.relay(publisher, leases, limit=100, timeout=20) == 0
        assert telemetry.waiting() == 1
        leases.release("telemetry-relay", held)
        assert telemetry.relay(publisher, leases, limit=100, timeout=20) == 1
    finally:
        publisher.close()
    assert telemetry.waiting() == 0
