"""The telemetry queue: events that no stored document owns (a provider call, a login, a
webhook received, a breaker opening) wait in one capped Redis list for the beat job that
publishes them (``parley.maintenance.relay_telemetry``).

Recording costs one pipelined round trip and never raises: an event that cannot be queued is
logged and dropped, because an observation must never fail the request or the turn it
observes. The list is capped at ``CAP`` (the oldest go first) so a Kafka outage cannot grow it
without bound. The relay takes the head of the list under a lease, publishes it and only then
trims what Kafka acknowledged, so a crash in between republishes (consumers drop the copies
by CloudEvents id); it never loses what it read.

Events of a document's life (a message's receipts, a dead letter) are in that document's
outbox instead (storage/outbox.py): exactly as durable as the document.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable

from redis import Redis
from redis.exceptions import RedisError

from core.cloudevents import CloudEvent
from storage.kafka_producer import EventPublisher, StagedEvent
from storage.leases import Leases

log = logging.getLogger("parley.telemetry")

QUEUE = "parley:telemetry"
CAP = 100_000
LEASE = "telemetry-relay"


def _serialised(event: CloudEvent) -> str:
    """The structured CloudEvent, as the outbox stores one; its topic is its type and its key
    its ``partitionkey``, both read back from it."""
    return json.dumps(event.to_dict(), separators=(",", ":"))


def _staged(value: bytes | str) -> StagedEvent:
    text = value.decode() if isinstance(value, bytes) else value
    event = json.loads(text)
    return StagedEvent(event["id"], event["type"], event["partitionkey"], text, event["id"])


class Telemetry:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    def record(self, events: Iterable[CloudEvent]) -> None:
        values = [_serialised(event) for event in events]
        if not values:
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.rpush(QUEUE, *values)
            pipe.ltrim(QUEUE, -CAP, -1)
            pipe.execute()
        except RedisError as exc:
            log.warning("%d telemetry event(s) dropped: %s", len(values), type(exc).__name__)

    def waiting(self) -> int:
        return int(self._redis.llen(QUEUE))

    def relay(self, publisher: EventPublisher, leases: Leases, limit: int, timeout: float) -> int:
        """Publish up to ``limit`` queued events; how many Kafka acknowledged. The list's head
        is trimmed only when every event of the batch was acknowledged."""
        token = leases.acquire(LEASE, timeout * 4)
        if token is None:
            return 0  # another relay is at it
        try:
            batch = [_staged(value) for value in self._redis.lrange(QUEUE, 0, limit - 1)]
            if not batch:
                return 0
            acknowledged = publisher.publish_staged(batch, timeout, lambda _: None)
            if acknowledged == len(batch):
                # Only the relay removes from the head, and only under the lease; a recorder
                # trims the head too, but only while the list is full (Kafka long gone), when
                # dropping the oldest is the cap's purpose anyway.
                self._redis.ltrim(QUEUE, len(batch), -1)
            return acknowledged
        finally:
            leases.release(LEASE, token)


class TelemetryBuffer:
    """Telemetry for an event loop's hot path (the ingress): ``add`` only appends in memory,
    and ``flush``, called from a thread every ``FLUSH_SECONDS`` and at shutdown, queues the
    lot in one round trip. What a killed process had not flushed is lost: at most a second of
    observations, never a fact any store depends on."""

    FLUSH_SECONDS = 1.0

    def __init__(self, telemetry: Telemetry, cap: int = 10_000) -> None:
        self._telemetry = telemetry
        self._events: deque[CloudEvent] = deque(maxlen=cap)

    def add(self, event: CloudEvent) -> None:
        self._events.append(event)  # deque appends and pops are thread-safe

    def flush(self) -> int:
        taken: list[CloudEvent] = []
        while self._events:
            try:
                taken.append(self._events.popleft())
            except IndexError:
                break
        self._telemetry.record(taken)
        return len(taken)
