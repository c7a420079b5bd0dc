"""The engine's Kafka consumer: every counted event made into a fact, exactly once.

The same fact-making the platform's ``analytics`` handler does (storage/analytics_facts.py,
storage/analytics.py), into a collection of the engine's own; side services may not import
``consumers`` (pyproject's import contracts), so the loop is this small one. A record's offset
is committed after its fact is written; a crash in between re-reads it and the fact's ``_id``
drops it. A tombstone (a key with no value) forgets the conversation.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from pymongo.database import Database
from pymongo.errors import PyMongoError

from storage.analytics import AnalyticsRepository
from storage.analytics_facts import FactBuilder

log = logging.getLogger("parley.analytics_engine")

FACTS_COLLECTION = "analytics_engine_facts"
TOPICS = ("^chat\\.message\\..*$", "^chat\\.conversation\\..*$", "system.error")
RETRY_SECONDS = 1.0


class FactStream:
    def __init__(self, db: Database[Any], bootstrap: str, group_id: str) -> None:
        self.facts = AnalyticsRepository(db, FACTS_COLLECTION)
        self._builder = FactBuilder(db, FACTS_COLLECTION)
        self._stopping = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group_id,
                "client.id": "parley-analytics-engine",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "topic.metadata.refresh.interval.ms": 5000,
            }
        )

    def apply(self, msg: Message) -> None:
        """The record's effect: a fact, a forgotten conversation, or nothing (not counted)."""
        value = msg.value()
        if value is None:
            key = msg.key()
            if key:
                self.facts.forget(key.decode(errors="replace"))
            return
        try:
            event = json.loads(value)
        except ValueError:
            log.warning("skipping a record that is not JSON at %s", _where(msg))
            return
        if not isinstance(event, dict) or not event.get("id") or not event.get("time"):
            log.warning("skipping a record that is not a CloudEvent at %s", _where(msg))
            return
        fact = self._builder.fact_of(event)
        if fact is not None:
            self.facts.record(fact)

    def run(self) -> None:
        """Until ``stop``: poll, apply, commit; a MongoDB failure retries the same record."""
        self._consumer.subscribe(list(TOPICS))
        try:
            while not self._stopping.is_set():
                msg = self._consumer.poll(0.5)
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("kafka: %s", error)
                    continue
                try:
                    self.apply(msg)
                except PyMongoError as exc:
                    log.warning("fact not written (%s); retrying %s", exc, _where(msg))
                    again = TopicPartition(
                        str(msg.topic()), msg.partition() or 0, msg.offset() or 0
                    )
                    self._consumer.seek(again)
                    time.sleep(RETRY_SECONDS)
                    continue
                self._consumer.commit(message=msg, asynchronous=False)
        finally:
            self._consumer.close()

    def stop(self) -> None:
        self._stopping.set()


def _where(msg: Message) -> str:
    return f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
