"""The witnesses a ledger is counted from: the Messenger fake's accepted sends, MongoDB read by
the test itself, and a Kafka consumer of our own."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from pymongo.database import Database
from pymongo.errors import PyMongoError

from tests.fakes.messenger import FakeMessenger
from tests.fakes.provider import Recorded, Reply
from tests.faults.ledger import TERMINAL, DeadLetter, Inbound, ProviderSend, Store

EVENT_TOPICS = (
    "chat.message.received",
    "chat.message.sent",
    "chat.conversation.started",
    "chat.conversation.updated",
    "chat.message.failed",
)


class RecordingMessenger(FakeMessenger):
    """The Messenger fake, also keeping every send it accepted; faulted requests never get here."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[ProviderSend] = []
        self._order = itertools.count()
        self._accepted_lock = threading.Lock()

    def handle(self, request: Recorded) -> Reply:
        reply = super().handle(request)
        if reply.status == 200 and isinstance(reply.body, dict) and "message_id" in reply.body:
            message = dict(request.json()["message"])
            reply_id = str(message.pop("metadata", ""))
            body = json.dumps(message, sort_keys=True)
            with self._accepted_lock:
                self.accepted.append(ProviderSend(next(self._order), reply_id, body))
        return reply


def read_store(db: Database[Any], tenant: str, mid_prefix: str) -> Store:
    inbound = [
        Inbound(
            doc["_id"], doc.get("provider_message_id", "").removeprefix(mid_prefix), doc["status"]
        )
        for doc in db["messages"].find(
            {"tenant_id": tenant, "direction": "inbound"},
            {"provider_message_id": 1, "status": 1},
        )
    ]
    dead = [
        DeadLetter(
            str(doc.get("message_id", "")),
            str(doc.get("stage", "?")),
            str((doc.get("last_error") or {}).get("classification") or "unclassified"),
        )
        for doc in db["dead_letters"].find({"tenant_id": tenant})
    ]
    return Store(inbound, dead)


def wait_terminal(
    db: Database[Any],
    tenant: str,
    mid_prefix: str,
    labels: Iterable[str],
    stall_seconds: float,
    cap_seconds: float,
) -> tuple[str, float, Store | None]:
    """Poll MongoDB until every label's inbound message is terminal: ("drained", seconds, store),
    else ("stalled" or "cap", seconds, None).

    Gives up when no turn became terminal for ``stall_seconds`` (what is left is stuck) or after
    ``cap_seconds`` in all. A backlog that keeps moving is waited for: this machine's speed is
    not the fault's doing. MongoDB errors (it may be restarting) count as no progress. Polls
    count what is left (FerretDB scans the collection for it) and read everything once at the end.
    """
    wanted = set(labels)
    started = last_progress = time.monotonic()
    left = None
    unfinished = {"tenant_id": tenant, "direction": "inbound", "status": {"$nin": list(TERMINAL)}}
    while True:
        try:
            count = db["messages"].count_documents(unfinished)
            store = read_store(db, tenant, mid_prefix) if count == 0 else None
        except PyMongoError:
            count, store = None, None
        now = time.monotonic()
        if store is not None:
            terminal = {i.label for i in store.inbound if i.status in TERMINAL}
            if wanted <= terminal:
                return "drained", now - started, store
        if count is not None and (left is None or count < left):
            left, last_progress = count, now
        if now - last_progress >= stall_seconds:
            return "stalled", now - started, None
        if now - started >= cap_seconds:
            return "cap", now - started, None
        time.sleep(2.0)


class EventTap:
    """A consumer group reading our topics from the offsets they had before the scenario.

    The offsets are taken up front; the consumer itself only exists while ``collect`` reads,
    so a Kafka outage during the load does not fill the output with reconnect errors.
    """

    def __init__(self, bootstrap: str, tenant: str, topics: Iterable[str] = EVENT_TOPICS) -> None:
        self.bootstrap = bootstrap
        self.tenant = tenant
        self.group_id = f"parley-faults-{uuid.uuid4().hex[:8]}"
        self.ids: Counter[str] = Counter()
        self._start: list[TopicPartition] = []
        consumer = self._consumer()
        try:
            for topic in topics:
                metadata = consumer.list_topics(topic, timeout=15).topics[topic]
                for partition in metadata.partitions:
                    _, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=15
                    )
                    self._start.append(TopicPartition(topic, partition, high))
        finally:
            consumer.close()

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )

    def collect(self, expected: set[str], timeout: float, settle: float = 3.0) -> Counter[str]:
        """Read until every expected id was seen (or ``timeout``), then ``settle`` seconds more
        so late duplicates are counted too; returns how often each of our ids was seen."""
        consumer = self._consumer()
        try:
            consumer.assign(self._start)
            deadline = time.monotonic() + timeout
            quiet_until: float | None = None
            while True:
                now = time.monotonic()
                if quiet_until is None and (expected <= set(self.ids) or now >= deadline):
                    quiet_until = now + settle
                if quiet_until is not None and now >= quiet_until:
                    return self.ids
                message = consumer.poll(0.5)
                if message is None or message.error() is not None:
                    continue
                try:
                    event = json.loads(message.value())
                except ValueError:
                    continue
                if event.get("tenantid") == self.tenant:
                    self.ids[str(event.get("id"))] += 1
        finally:
            consumer.close()
