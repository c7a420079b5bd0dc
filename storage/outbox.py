"""The transactional outbox: events live inside the document whose change causes them.

MongoDB (and FerretDB) update one document atomically, so an event appended in the same update
as a status change exists exactly when the change does, without multi-document transactions.
The document's ``outbox`` keeps the serialised events for good.

What is still to publish is kept apart, in ``pending_events``: one small document per event
(``_id`` = the CloudEvents id, plus where the event lives). A writer notes the events *before*
the update that embeds them, so an embedded event always has its note; Kafka's delivery report
deletes the note. Keeping the notes out of the owning document means an acknowledgement never
rewrites a message (FerretDB v1 can lose one of two concurrent updates of a document), and the
relay reads a collection as small as the backlog instead of scanning every message.

The relay leaves the notes of a turn still in flight to that turn's audit stage, which will
publish them anyway, so a backlog in front of the audit stage does not make every event go out
twice; past ``LEAVE_TO_AUDIT`` it publishes them regardless.

A note whose event never made it into its document (the write failed, or lost a race to an
identical write) is an orphan; the relay deletes orphans once they are older than any write
can take (``ORPHAN_AFTER``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar, cast

from pymongo import DeleteOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from core.cloudevents import CloudEvent
from core.timeutil import utcnow
from storage.documents import OutboxEntry, OutboxOwner
from storage.event_sequence import EventSequencer, sequenced, with_sequence
from storage.kafka_producer import EventPublisher, StagedEvent
from storage.open_turns import OpenTurns

log = logging.getLogger("parley.outbox")

PENDING_COLLECTION = "pending_events"
# Far longer than any stage takes between noting an event and writing its document.
ORPHAN_AFTER = timedelta(minutes=15)
# The relay leaves the events of a turn still in flight to that turn's audit stage (publishing
# them too would only duplicate them) unless they wait longer than this.
LEAVE_TO_AUDIT = timedelta(minutes=5)
_DUPLICATE_KEY = 11000

D = TypeVar("D", bound=Mapping[str, Any])


def stage(event: CloudEvent) -> OutboxEntry:
    """An event as stored in a document's outbox: already serialised, so it never changes."""
    return {
        "id": event.id,
        "topic": event.type,
        "key": event.partition_key,
        "value": json.dumps(event.to_dict(), separators=(",", ":")),
    }


def push(events: Iterable[CloudEvent]) -> dict[str, Any]:
    """The update fragment that appends ``events`` to a document's outbox."""
    return {"$push": {"outbox": {"$each": [stage(event) for event in events]}}}


def restaged(entries: Iterable[OutboxEntry], event: CloudEvent) -> list[OutboxEntry]:
    """The outbox with the entry of ``event``'s id serialised anew (a fact known better before
    it was published, e.g. the received event once processing redacted the text); its
    pending note is the same, so it still goes out once."""
    return [stage(event) if entry["id"] == event.id else entry for entry in entries]


def with_outbox(doc: D, events: Iterable[CloudEvent]) -> D:
    """A new document carrying ``events`` from its first write."""
    return cast(D, {**doc, "outbox": [stage(event) for event in events]})


class PendingEvents:
    """The notes of events not yet acknowledged by Kafka."""

    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[Any] = db[PENDING_COLLECTION]

    def note(
        self, collection: str, owner: str, event_ids: Sequence[str], turn: str | None = None
    ) -> list[str]:
        """Note ``event_ids`` of ``collection``/``owner`` as pending; call before the write that
        embeds them. ``turn``: the turn whose audit stage will publish them, if any. Returns the
        ids noted now (the others were noted by an earlier run)."""
        if not event_ids:
            return []
        now = utcnow()
        docs = [
            {"_id": event_id, "collection": collection, "owner": owner, "turn": turn, "at": now}
            for event_id in event_ids
        ]
        try:
            self._collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != _DUPLICATE_KEY for error in errors):
                raise
            taken = {docs[error["index"]]["_id"] for error in errors}
            return [event_id for event_id in event_ids if event_id not in taken]
        return list(event_ids)

    def forget(self, event_ids: Iterable[str]) -> None:
        """Drop notes whose events can never exist (their document was never written)."""
        for event_id in event_ids:
            self._collection.delete_one({"_id": event_id})

    def acknowledged(self, event_ids: Sequence[str]) -> None:
        """Drop the notes of events Kafka stored: one round trip for the lot, each note deleted
        by its ``_id`` alone (the one filter FerretDB v1 finds through an index)."""
        if event_ids:
            self._collection.bulk_write(
                [DeleteOne({"_id": event_id}) for event_id in event_ids], ordered=False
            )

    def pending_of(self, event_ids: Iterable[str]) -> set[str]:
        """Which of ``event_ids`` are still waiting for Kafka: one read for them all. FerretDB v1
        finds only ``{_id: x}`` through the index, so an ``$in`` reads the whole collection,
        which is as small as the backlog: the turns in flight, or, while Kafka is away, what
        waits for it (the audit stage does not publish then; the relay reads by age)."""
        wanted = list(dict.fromkeys(event_ids))
        if not wanted:
            return set()
        if len(wanted) == 1:
            return {doc["_id"] for doc in self._collection.find({"_id": wanted[0]}, {"_id": 1})}
        return {doc["_id"] for doc in self._collection.find({"_id": {"$in": wanted}}, {"_id": 1})}

    def backlog(self) -> int:
        """How many events wait for Kafka (the collection's count from its metadata: cheap)."""
        return int(self._collection.estimated_document_count())

    def older_than(self, seconds: float, limit: int) -> list[dict[str, Any]]:
        cutoff = utcnow() - timedelta(seconds=seconds)
        return list(self._collection.find({"at": {"$lt": cutoff}}).limit(limit))


class _Acknowledgements:
    """The events of one publish that Kafka acknowledged, their notes dropped together when
    the publish returns. A delivery report served later (by another thread's flush of the
    shared producer) drops its note at once."""

    def __init__(self, pending: PendingEvents) -> None:
        self._pending = pending
        self._lock = threading.Lock()
        self._ids: list[str] | None = []

    def add(self, event: StagedEvent) -> None:
        with self._lock:
            if self._ids is not None:
                self._ids.append(event.id)
                return
        self._pending.acknowledged([event.id])

    def close(self) -> None:
        with self._lock:
            ids, self._ids = self._ids or [], None
        try:
            self._pending.acknowledged(ids)
        except Exception:  # the relay publishes them again; consumers dedupe by id
            log.exception("could not mark %d event(s) published", len(ids))


class OutboxRelay:
    """Publishes pending outbox events and forgets each one from its Kafka delivery report.
    Chat events go out with their conversation's sequence number (storage/event_sequence.py)."""

    def __init__(
        self, db: Database[Any], publisher: EventPublisher, sequencer: EventSequencer
    ) -> None:
        self._db = db
        self._publisher = publisher
        self._sequencer = sequencer
        self.pending = PendingEvents(db)
        self._turns = OpenTurns(db)

    def publish_documents(
        self,
        docs: Iterable[OutboxOwner],
        timeout: float,
        unread: tuple[Sequence[str], Callable[[], OutboxOwner | None]] | None = None,
    ) -> int:
        """Publish the still pending events of ``docs`` (of any collections); returns how many
        Kafka acknowledged. ``unread``: the ids of events a document not read yet may hold,
        and how to read it: it is read only when one of them is pending (asked in the same
        read as the others), for a document that seldom holds one, such as a conversation
        after its first turn."""
        owned = [(doc["_id"], entry) for doc in docs for entry in doc.get("outbox") or ()]
        maybe, load = unread or ((), None)
        waiting = self.pending.pending_of([*(entry["id"] for _, entry in owned), *maybe])
        doc = load() if load is not None and waiting.intersection(maybe) else None
        if doc is not None:
            known = {entry["id"] for _, entry in owned}
            owned += [(doc["_id"], e) for e in doc.get("outbox") or () if e["id"] not in known]
        batch = [
            StagedEvent(entry["id"], entry["topic"], entry["key"], entry["value"], owner)
            for owner, entry in owned
            if entry["id"] in waiting
        ]
        return self._publish(batch, timeout)

    def relay(self, older_than_seconds: float, limit: int, timeout: float) -> int:
        """Publish what the audit stage could not (Kafka down, a crash in between)."""
        notes = self.pending.older_than(older_than_seconds, limit)
        by_owner: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for note in notes:
            by_owner[(note["collection"], note["owner"])].append(note)
        now = utcnow()
        orphan_cutoff, audit_cutoff = now - ORPHAN_AFTER, now - LEAVE_TO_AUDIT
        batch: list[StagedEvent] = []
        for (collection, owner), owner_notes in by_owner.items():
            turns = {note.get("turn") for note in owner_notes if note["at"] >= audit_cutoff}
            if any(turn and self._turns.is_open(turn) for turn in turns):
                continue  # its audit stage is still to come and will publish these
            doc = self._db[collection].find_one({"_id": owner}, {"outbox": 1}) or {}
            entries = {entry["id"]: entry for entry in doc.get("outbox") or ()}
            for note in owner_notes:
                entry = entries.get(note["_id"])
                if entry is not None:
                    batch.append(
                        StagedEvent(
                            entry["id"], entry["topic"], entry["key"], entry["value"], owner
                        )
                    )
                elif note["at"] < orphan_cutoff:
                    log.info("forgetting event %s: %s never stored it", note["_id"], owner)
                    self.pending.forget([note["_id"]])
        return self._publish(batch, timeout)

    def publish_noted(self, owner: str, entries: Sequence[OutboxEntry], timeout: float) -> int:
        """Publish ``entries`` of ``owner`` that the caller has just noted and written (so
        they are pending for certain: no read asks); returns how many Kafka acknowledged."""
        batch = [
            StagedEvent(entry["id"], entry["topic"], entry["key"], entry["value"], owner)
            for entry in entries
        ]
        return self._publish(batch, timeout)

    def _publish(self, batch: list[StagedEvent], timeout: float) -> int:
        if not batch:
            return 0
        acks = _Acknowledgements(self.pending)
        try:
            return self._publisher.publish_staged(self._sequenced(batch), timeout, acks.add)
        finally:
            acks.close()

    def _sequenced(self, batch: list[StagedEvent]) -> list[StagedEvent]:
        chat = [event for event in batch if sequenced(event.topic)]
        numbers = dict(
            zip(
                (event.id for event in chat),
                self._sequencer.assign([(event.key, event.id) for event in chat]),
                strict=True,
            )
        )
        return [
            replace(event, value=with_sequence(event.value, numbers[event.id]))
            if event.id in numbers
            else event
            for event in batch
        ]
