"""Kafka publishing of CloudEvents: an idempotent producer whose failures surface to the caller."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from core.cloudevents import CloudEvent
from core.errors import TransientError


@dataclass
class _Outcome:
    errors: list[str]
    done: threading.Event


class EventPublisher:
    """Publishes CloudEvents (structured mode, JSON) keyed by conversation id."""

    def __init__(self, bootstrap: str, client_id: str = "parley") -> None:
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "client.id": client_id,
                # No duplicates or reordering from producer retries; wait for all replicas.
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": 30000,
            }
        )

    def publish(self, events: Sequence[CloudEvent], timeout: float) -> None:
        """Send ``events`` and wait for every delivery report; raise if any was not stored."""
        outcome = _Outcome(errors=[], done=threading.Event())
        pending = len(events)
        lock = threading.Lock()

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            nonlocal pending
            with lock:
                if err is not None:
                    outcome.errors.append(f"{msg.topic()}: {err.str()}")
                pending -= 1
                if pending == 0:
                    outcome.done.set()

        for event in events:
            self._producer.produce(
                event.type,
                key=event.partition_key.encode(),
                value=json.dumps(event.to_dict(), separators=(",", ":")).encode(),
                headers={"content-type": "application/cloudevents+json; charset=utf-8"},
                on_delivery=on_delivery,
            )
        remaining = self._producer.flush(timeout)
        if remaining or not outcome.done.is_set():
            raise TransientError(
                f"{remaining} event(s) not acknowledged by Kafka within {timeout}s"
            )
        if outcome.errors:
            raise TransientError("Kafka rejected events: " + "; ".join(outcome.errors))

    def close(self, timeout: float = 5.0) -> None:
        self._producer.flush(timeout)
