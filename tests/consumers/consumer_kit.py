"""Helpers for the consumer tests: topics of their own, real events published through the real
producer, a consumer run in a thread, and Kafka's word on a group's committed offsets."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from consumers.runtime import EventConsumer
from core.cloudevents import CloudEvent
from storage.kafka_producer import EventPublisher, StagedEvent
from storage.outbox import stage


def poll_until(check: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what or check}")
        time.sleep(0.05)


class Topics:
    """This test's own topic names (one run never reads another's) and Kafka calls on them."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = f"test.{uuid.uuid4().hex[:10]}"
        self.dlq = f"{self.prefix}.dlq"
        self.group = f"parley-test-{uuid.uuid4().hex[:8]}."

    def create(self, name: str, partitions: int = 1) -> str:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            future.result(timeout=30)
        poll_until(lambda: bool(self.partitions(name)), 30, f"topic {name} has partitions")
        return name

    def partitions(self, topic: str) -> list[int]:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        found = admin.list_topics(topic, timeout=10).topics.get(topic)
        return sorted(found.partitions) if found and found.error is None else []

    def publish(self, events: list[CloudEvent]) -> None:
        """Through Parley's own producer, as the outbox relay does."""
        publisher = EventPublisher(self.bootstrap)
        try:
            batch = []
            for event in events:
                entry = stage(event)
                batch.append(
                    StagedEvent(entry["id"], entry["topic"], entry["key"], entry["value"], "-")
                )
            assert publisher.publish_staged(batch, 30, lambda _: None) == len(batch)
        finally:
            publisher.close()

    def produce_raw(self, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap})
        producer.produce(topic, value=value, headers=headers)  # type: ignore[arg-type]
        assert producer.flush(30) == 0

    def ends(self, topic: str) -> dict[int, int]:
        reader = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "parley-test-ends"})
        try:
            return {
                p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in self.partitions(topic)
            }
        finally:
            reader.close()

    def committed(self, group: str, topic: str) -> dict[int, int]:
        reader = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group})
        try:
            asked = [TopicPartition(topic, p) for p in self.partitions(topic)]
            return {tp.partition: tp.offset for tp in reader.committed(asked, timeout=10)}
        finally:
            reader.close()

    def all_committed(self, group: str, topic: str) -> bool:
        return self.committed(group, topic) == self.ends(topic)


def event(topic: str, n: int, data: dict[str, Any] | None = None) -> CloudEvent:
    return CloudEvent(
        id=f"evt_{uuid.uuid4().hex[:12]}_{n}",
        type=topic,
        source="/parley/tests",
        subject=f"msg_{n}",
        time=datetime(2026, 12, 4, 14, 0, n % 60, tzinfo=UTC),
        tenant_id="t_consumers",
        partition_key=f"conv_{n % 7}",
        data={"n": n, **(data or {})},
    )


class RunningConsumer:
    """An in-process consumer on a thread; ``stop`` ends it the way SIGTERM does."""

    def __init__(self, consumer: EventConsumer) -> None:
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(consumer,), daemon=True)
        self._thread.start()

    def _run(self, consumer: EventConsumer) -> None:
        try:
            consumer.run(self._stop.is_set)
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive(), "the consumer did not stop"
        if self.error is not None:
            raise self.error
