"""A real Kafka consumer-group reader for tests: collects CloudEvents for given subjects."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, TopicPartition


class EventReader:
    """Reads ``topics`` from where they end when the reader is made: a test sees the events
    published after it started, however many earlier runs (the ledger suite's thousands) left."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.group_id = f"parley-test-{uuid.uuid4().hex[:8]}"
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": self.group_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                # A topic no run has published to yet is created now, so its start is known.
                "allow.auto.create.topics": True,
            }
        )
        start: list[TopicPartition] = []
        for topic in topics:
            for partition in self._partitions(topic):
                _, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=15
                )
                start.append(TopicPartition(topic, partition, high))
        self._consumer.assign(start)
        self.seen: list[tuple[str, bytes | None, dict[str, Any], dict[str, bytes]]] = []
        self.tombstones: list[tuple[str, bytes | None]] = []  # (topic, key) of value-less records

    def _partitions(self, topic: str, timeout: float = 20.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while True:
            metadata = self._consumer.list_topics(topic, timeout=5).topics[topic]
            if metadata.error is None and metadata.partitions:
                return list(metadata.partitions)
            if time.monotonic() > deadline:
                raise AssertionError(f"Kafka topic {topic} has no partitions: {metadata.error}")
            time.sleep(0.5)

    def collect(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout: float
    ) -> list[dict[str, Any]]:
        """Poll until ``done(events)`` holds (events as parsed dicts) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._consumer.poll(0.5)
            if msg is not None and msg.error() is None and msg.value() is None:
                self.tombstones.append((msg.topic(), msg.key()))
            elif msg is not None and msg.error() is None:
                headers = {k: v for k, v in (msg.headers() or [])}
                self.seen.append((msg.topic(), msg.key(), json.loads(msg.value()), headers))
            if done(self.events()):
                break
        return self.events()

    def events(self) -> list[dict[str, Any]]:
        return [event for _, _, event, _ in self.seen]

    def close(self) -> None:
        self._consumer.close()
