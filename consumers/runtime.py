"""One consumer for one handler: ``parley consume <handler>``.

The handler's consumer group is ``parley.<handler>`` (``PARLEY_CONSUMER_GROUP_PREFIX``), so
each handler reads every event once whatever the others do, and scales by running more
consumers of the same group. Offsets are never committed automatically: a record's offset is
committed (asynchronously, at most once a second while records flow) only once its effect is
durable — applied and recorded, skipped as already applied or as not the handler's, or parked
on the dead-letter topic. A consumer killed in between leaves the record to be read again, and
the processed-id record makes the re-reading harmless (consumers/apply.py).

Rebalancing: records are handled one at a time in the thread that polls, so when partitions
are revoked no event is half-done; ``on_revoke`` commits their offsets synchronously before
another consumer takes them. SIGTERM (and SIGINT) finish the current event, commit, and close.

A failing event is tried ``TRIES`` times with a short doubling backoff, then parked; a record
whose body is not a CloudEvent is parked at once (retrying cannot help).
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from consumers.apply import apply_once
from consumers.dead_letters import DeadLetterTopic, describe
from consumers.handler import Handler
from consumers.records import NotAnEvent, event_type, parse
from consumers.router import Route
from storage.event_ledger import ProcessedEvents

log = logging.getLogger("parley.consumers")

TRIES = 3
FIRST_BACKOFF_SECONDS = 0.2
# Done offsets are committed at most this often while records flow (and at once when idle, on
# revoke and on stop): a commit per record would cost a round trip each, and what a crash
# leaves uncommitted is re-read and dropped by the ledger.
COMMIT_INTERVAL_SECONDS = 1.0


class EventConsumer:
    """Reads the handler's topics and applies each event it takes once."""

    def __init__(
        self,
        handler: Handler,
        route: Route,
        processed: ProcessedEvents,
        dead_letters: DeadLetterTopic,
        bootstrap: str,
        group_id: str,
    ) -> None:
        self.handler = handler
        self.route = route
        self._processed = processed
        self._dead_letters = dead_letters
        # The next offset to read per partition, for what is durable but not yet committed.
        self._done: dict[tuple[str, int], int] = {}
        self._committed_at = time.monotonic()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group_id,
                "client.id": f"parley-consume-{handler.name}",
                "enable.auto.commit": False,
                # A new group starts at the beginning: events published before the handler's
                # first run are its events too.
                "auto.offset.reset": "earliest",
                # A killed consumer's partitions go to the next one within this.
                "session.timeout.ms": 10000,
                "heartbeat.interval.ms": 2000,
                # A topic newly matching a pattern is subscribed within this.
                "topic.metadata.refresh.interval.ms": 30000,
            }
        )

    def run(self, stopping: Callable[[], bool]) -> None:
        """Consume until ``stopping()``; then commit what is done and leave the group."""
        self._consumer.subscribe(
            self.route.subscription(),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            while not stopping():
                msg = self._consumer.poll(1.0)
                if msg is None:
                    self._commit(asynchronous=True)  # idle: everything done is committed
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("consumer %s: %s", self.handler.name, error.str())
                    continue
                self._take(msg)
                self._done[(str(msg.topic()), int(msg.partition() or 0))] = (
                    int(msg.offset() or 0) + 1
                )
                if time.monotonic() - self._committed_at >= COMMIT_INTERVAL_SECONDS:
                    self._commit(asynchronous=True)
        finally:
            try:
                self._commit(asynchronous=False)
            finally:
                self._consumer.close()

    def _take(self, msg: Message) -> None:
        if msg.value() is None:  # a tombstone: the key's data was erased (docs/privacy.md)
            key = (msg.key() or b"").decode(errors="replace")
            if key:
                self._try(msg, f"the tombstone of {key}", lambda: self.handler.forget(key))
            return
        kind = event_type(msg)
        if kind is not None and not self.route.takes(kind):
            log.debug("%s skips %s at %s", self.handler.name, kind, msg.offset())
            return
        try:
            event = parse(msg.value())
        except NotAnEvent as exc:
            self._dead_letters.park(msg, self.handler.name, describe(exc))
            return
        if kind is None and not self.route.takes(str(event.get("type", ""))):
            return  # a record from before the ce_* headers: its body names its type
        self._try(
            msg, f"event {event['id']}", lambda: apply_once(self.handler, event, self._processed)
        )

    def _try(self, msg: Message, what: str, apply: Callable[[], object]) -> None:
        """``apply``, tried ``TRIES`` times with backoff; then the record is dead-lettered."""
        delay = FIRST_BACKOFF_SECONDS
        for attempt in range(1, TRIES + 1):
            try:
                apply()
                return
            except Exception as exc:  # a handler's failure is the event's, never the loop's
                if attempt == TRIES:
                    log.warning(
                        "%s failed %s %d times, parking it: %s",
                        self.handler.name,
                        what,
                        TRIES,
                        describe(exc),
                    )
                    self._dead_letters.park(msg, self.handler.name, describe(exc))
                    return
                time.sleep(delay)  # backoff between tries, not synchronisation
                delay *= 2

    def _commit(self, asynchronous: bool, only: set[tuple[str, int]] | None = None) -> None:
        offsets = [
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in self._done.items()
            if only is None or (topic, partition) in only
        ]
        if not offsets:
            return
        self._committed_at = time.monotonic()
        try:
            if asynchronous:
                self._consumer.commit(offsets=offsets, asynchronous=True)
            else:
                self._consumer.commit(offsets=offsets, asynchronous=False)
        except Exception as exc:  # the records are read again; the ledger drops them
            log.warning("consumer %s could not commit: %s", self.handler.name, exc)
            return
        for tp in offsets:
            if self._done.get((tp.topic, tp.partition)) == tp.offset:
                del self._done[(tp.topic, tp.partition)]

    def _on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        log.info("%s assigned %s", self.handler.name, _names(partitions))

    def _on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._commit(asynchronous=False, only=revoked)
        for key in revoked:
            self._done.pop(key, None)
        log.info("%s revoked %s", self.handler.name, _names(partitions))

    def _on_lost(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        # Already someone else's: committing now could move their offsets; they re-read instead.
        for tp in partitions:
            self._done.pop((tp.topic, tp.partition), None)
        log.warning("%s lost %s", self.handler.name, _names(partitions))


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"


def until_signalled() -> Callable[[], bool]:
    """A ``stopping`` that turns true on SIGTERM or SIGINT (the current event is finished)."""
    stopped = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stopped
        stopped = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return lambda: stopped
