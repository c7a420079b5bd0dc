"""The event dead-letter topic: what a handler failed after its retries, parked with why.

A parked record keeps the original key, body and headers, and adds ``parley_handler``,
``parley_error`` (the exception's class and message, never a traceback), ``parley_topic``,
``parley_partition``, ``parley_offset`` and ``parley_failed_at``. The consumer moves past the
original offset only once Kafka acknowledged the parked copy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from consumers.errors import DeadLetterFailed
from consumers.records import headers_of
from core.timeutil import isoformat, utcnow

ERROR_LIMIT = 500  # characters of an error kept: enough to act on, not a dump


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]


class DeadLetterTopic:
    """Produces parked events to the dead-letter topic and waits for Kafka to store each."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"}
        )

    def park(self, msg: Message, handler: str, error: str, timeout: float = 15.0) -> None:
        headers: list[tuple[str, str | bytes | None]] = [
            (k, v) for k, v in headers_of(msg).items() if not k.startswith("parley_")
        ]
        headers += [
            ("parley_handler", handler.encode()),
            ("parley_error", error.encode()),
            ("parley_topic", str(msg.topic()).encode()),
            ("parley_partition", str(msg.partition()).encode()),
            ("parley_offset", str(msg.offset()).encode()),
            ("parley_failed_at", str(isoformat(utcnow())).encode()),
        ]
        failures: list[str] = []

        def on_delivery(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err.str())

        self._producer.produce(
            self.topic, key=msg.key(), value=msg.value(), headers=headers, on_delivery=on_delivery
        )
        if self._producer.flush(timeout) or failures:
            reason = failures[0] if failures else f"no acknowledgement within {timeout:.0f}s"
            raise DeadLetterFailed(f"could not park an event on {self.topic}: {reason}")

    def close(self) -> None:
        self._producer.flush(5.0)


@dataclass(frozen=True)
class ParkedEvent:
    """One record of the dead-letter topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def handler(self) -> str:
        return self.headers.get("parley_handler", "")

    @property
    def event_id(self) -> str:
        return self.headers.get("ce_id", "")


def read_parked(bootstrap: str, topic: str, timeout: float = 30.0) -> Iterator[ParkedEvent]:
    """Every record of the dead-letter topic, from its start to where it ends now; nothing if
    the topic does not exist. It reads without a consumer group and commits nothing."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "parley.events.dlq.reader",  # required by the client; never committed
            "enable.auto.commit": False,
            "allow.auto.create.topics": False,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return
        ends: dict[int, int] = {}
        starts: list[TopicPartition] = []
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > low:
                ends[partition] = high
                starts.append(TopicPartition(topic, partition, low))
        if not starts:
            return
        consumer.assign(starts)
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            partition, offset = int(msg.partition() or 0), int(msg.offset() or 0)
            if offset + 1 >= ends.get(partition, 0):
                ends.pop(partition, None)
            yield ParkedEvent(
                topic,
                partition,
                offset,
                msg.key(),
                msg.value() or b"",
                {k: v.decode(errors="replace") for k, v in headers_of(msg).items()},
            )
    finally:
        consumer.close()
