"""Kafka publishing of CloudEvents: an idempotent producer whose delivery reports are the truth.

Each record carries the event twice, as the CloudEvents Kafka binding allows: the structured JSON
body the outbox stored, and its context attributes as binary ``ce_*`` headers derived from that
body, which consumers route and dedupe by (consumers/)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

log = logging.getLogger("parley.events")

SUSPECT_SECONDS = 15.0
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
# The CloudEvents Kafka binding's header of each context attribute a consumer routes or dedupes
# by; ``tenantid`` is Parley's extension attribute.
CE_HEADERS = ("specversion", "id", "type", "source", "subject", "time", "tenantid")


def ce_headers(value: str) -> list[tuple[str, str | bytes | None]]:
    """The record's headers for a structured CloudEvent ``value``: its content type plus the
    binary-mode ``ce_*`` attributes, so a consumer routes and dedupes without parsing the body."""
    event = json.loads(value)
    headers: list[tuple[str, str | bytes | None]] = [("content-type", CONTENT_TYPE.encode())]
    headers += [(f"ce_{name}", str(event[name]).encode()) for name in CE_HEADERS if name in event]
    return headers


@dataclass(frozen=True)
class StagedEvent:
    """An outbox entry ready to send: ``value`` is the CloudEvent's JSON, ``owner`` the id of
    the document whose outbox holds it."""

    id: str
    topic: str
    key: str
    value: str
    owner: str


class EventPublisher:
    """Publishes CloudEvents (structured JSON body, ``ce_*`` headers) keyed by conversation id."""

    def __init__(self, bootstrap: str, client_id: str = "parley") -> None:
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "client.id": client_id,
                # No duplicates or reordering from producer retries; wait for all replicas.
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                # Give up on a message after this; the outbox relay sends it again later.
                "message.timeout.ms": 15000,
            }
        )
        self._suspect_until = 0.0

    def publish_staged(
        self,
        events: Sequence[StagedEvent],
        timeout: float,
        on_acknowledged: Callable[[StagedEvent], None],
    ) -> int:
        """Send ``events``; ``on_acknowledged`` runs for each one Kafka stored (from its delivery
        report, never before). Returns how many were acknowledged within ``timeout``."""
        acknowledged = 0

        def report(event: StagedEvent) -> Callable[[KafkaError | None, Message], None]:
            def on_delivery(err: KafkaError | None, msg: Message) -> None:
                nonlocal acknowledged
                if err is not None:
                    log.warning("event %s not stored: %s", event.id, err.str())
                    return
                acknowledged += 1
                try:
                    on_acknowledged(event)
                except Exception:  # the relay will publish it again; consumers dedupe by id
                    log.exception("could not mark event %s published", event.id)

            return on_delivery

        for event in events:
            try:
                self._producer.produce(
                    event.topic,
                    key=event.key.encode(),
                    value=event.value.encode(),
                    headers=ce_headers(event.value),
                    on_delivery=report(event),
                )
            except BufferError:
                self._producer.poll(1.0)
                break
        remaining = self._producer.flush(timeout)
        if remaining:
            log.warning("%d event(s) not acknowledged within %.1fs", remaining, timeout)
            self._suspect_until = time.monotonic() + SUSPECT_SECONDS
        return acknowledged

    def publish_tombstones(self, topics: Sequence[str], keys: Sequence[str], timeout: float) -> int:
        """A tombstone (the key, no value) for each key on each topic: consumers drop what they
        derived from the key, and a compacted topic drops the key's records. Returns how many
        Kafka acknowledged within ``timeout``."""
        acknowledged = 0

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            nonlocal acknowledged
            if err is None:
                acknowledged += 1
            else:
                log.warning("tombstone on %s not stored: %s", msg.topic(), err.str())

        for topic in topics:
            for key in keys:
                self._producer.produce(topic, key=key.encode(), value=None, on_delivery=on_delivery)
        self._producer.flush(timeout)
        return acknowledged

    def reachable(self, timeout: float) -> bool:
        """Whether a broker answers a metadata request within ``timeout`` (health checks)."""
        try:
            self._producer.list_topics(timeout=timeout)
        except Exception:  # any failure is a no
            return False
        return True

    def suspect(self) -> bool:
        """Whether Kafka failed to acknowledge a publish in the last ``SUSPECT_SECONDS``: a
        caller that can leave its events to the outbox relay need not wait on it again."""
        return time.monotonic() < self._suspect_until

    def close(self, timeout: float = 5.0) -> None:
        self._producer.flush(timeout)
