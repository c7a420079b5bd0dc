"""The witnesses a ledger is counted from: the Messenger fake's accepted sends, MongoDB read by
the test itself, and a Kafka consumer of our own."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from pymongo.database import Database
from pymongo.errors import PyMongoError

from tests.fakes.messenger import FakeMessenger, graph_error
from tests.fakes.provider import Recorded, Reply
from tests.faults.ledger import TERMINAL, DeadLetter, Inbound, ProviderSend, Store, StoredReply

EVENT_TOPICS = (
    "chat.message.received",
    "chat.message.sent",
    "chat.conversation.started",
    "chat.conversation.updated",
    "chat.message.failed",
)


# Told of each send the fake accepted: the send, its recipient (PSID) and the mid it answered.
SendListener = Callable[[ProviderSend, str, str], None]


class RecordingMessenger(FakeMessenger):
    """The Messenger fake, also keeping every send it accepted; faulted requests never get here.

    ``throttle(seconds, retry_after)`` answers every Send API call 429 (Graph 613) for a while,
    counting the refusals per reply in ``throttled``; ``on_accept`` is told of each accepted
    send before the fake answers it, as a provider's webhooks may outrun its API's answer.
    """

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[ProviderSend] = []
        self.throttled: Counter[str] = Counter()  # reply id -> sends answered 429
        self.on_accept: SendListener | None = None
        self._order = itertools.count()
        self._accepted_lock = threading.Lock()
        self._throttle_until = 0.0
        self._retry_after: Callable[[], float] = lambda: 1.0

    def throttle(self, seconds: float, retry_after: Callable[[], float]) -> None:
        """For ``seconds`` from now, every send gets 429 with ``Retry-After: retry_after()``."""
        with self._accepted_lock:
            self._retry_after = retry_after
            self._throttle_until = time.monotonic() + seconds

    def handle(self, request: Recorded) -> Reply:
        if request.method == "POST" and request.path == "/me/messages":
            refusal = self._refusal(request)
            if refusal is not None:
                return refusal
        reply = super().handle(request)
        if reply.status == 200 and isinstance(reply.body, dict) and "message_id" in reply.body:
            sent = request.json()
            message = dict(sent["message"])
            reply_id = str(message.pop("metadata", ""))
            body = json.dumps(message, sort_keys=True)
            with self._accepted_lock:
                send = ProviderSend(next(self._order), reply_id, body)
                self.accepted.append(send)
            if self.on_accept is not None:
                self.on_accept(send, str(sent["recipient"]["id"]), str(reply.body["message_id"]))
        return reply

    def _refusal(self, request: Recorded) -> Reply | None:
        with self._accepted_lock:
            if time.monotonic() >= self._throttle_until:
                return None
            retry_after = self._retry_after()
            # A malformed send is refused too: throttling comes before reading the body.
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                self.throttled[str(request.json()["message"].get("metadata", ""))] += 1
        body = graph_error(613, "(#613) Calls to this api have exceeded the rate limit.")
        return Reply(429, body, {"Retry-After": f"{retry_after:g}"})


def read_store(db: Database[Any], tenant: str, mid_prefix: str) -> Store:
    inbound = [
        Inbound(
            doc["_id"],
            doc.get("provider_message_id", "").removeprefix(mid_prefix),
            doc["status"],
            doc.get("reply_id", ""),
        )
        for doc in db["messages"].find(
            {"tenant_id": tenant, "direction": "inbound"},
            {"provider_message_id": 1, "status": 1, "reply_id": 1},
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
    replies = [
        StoredReply(
            doc["_id"], len(doc.get("parts") or []), doc["status"], tuple(doc.get("answers", []))
        )
        for doc in db["messages"].find(
            {"tenant_id": tenant, "direction": "outbound"}, {"parts": 1, "status": 1, "answers": 1}
        )
    ]
    return Store(inbound, dead, replies)


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

    def start_group_here(self, group: str) -> None:
        """Commit ``group``'s offsets where this tap starts, so a consumer of that group reads
        the scenario's events and none of the earlier runs' (a new group reads from the
        beginning)."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group})
        try:
            consumer.commit(offsets=self._start, asynchronous=False)
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


def applied_by_audit_trail(
    db: Database[Any], ids: set[str], timeout: float
) -> tuple[set[str], dict[str, int]]:
    """The ``audit_trail`` consumer's effect on ``ids``: which are missing from ``event_log``
    once ``timeout`` has passed (or none are), and the applications counted for each one
    present. Its upsert counts every application, so an event applied twice shows as 2."""
    deadline = time.monotonic() + timeout
    while True:
        applied = {
            doc["event_id"]: int(doc.get("applications", 0))
            for doc in db["event_log"].find(
                {"handler": "audit_trail"}, {"event_id": 1, "applications": 1}
            )
            if doc["event_id"] in ids
        }
        missing = ids - set(applied)
        if not missing or time.monotonic() > deadline:
            return missing, applied
        time.sleep(1.0)
