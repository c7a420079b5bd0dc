"""Messages: inbound and outbound, with conditional status moves that never go backwards."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.chat_events import status_reported
from core.cloudevents import CloudEvent
from core.errors import NotFound
from core.states import TERMINAL, Status, predecessors
from core.timeutil import utcnow
from storage.by_id import (
    delete_by_id,
    find_by_id,
    find_one_and_update_by_id,
    update_by_id,
)
from storage.documents import ChoiceShown, MessageDocument, StuckTurn
from storage.open_turns import OpenTurns
from storage.outbox import PendingEvents
from storage.outbox import push as outbox_push

REPLY_SUFFIX = ".r"
LOST_UPDATE_TRIES = 3
LOST_UPDATE_PAUSE = 0.05


def reply_id(inbound_id: str) -> str:
    """The bot reply's id is derived from the turn's inbound id: a re-run cannot make a second.

    It also sorts right after the inbound message and before the user's next one.
    """
    return f"{inbound_id}{REPLY_SUFFIX}"


def turn_of(message_id: str) -> str:
    """The turn (its inbound message's id) a message belongs to: itself, or what it replies to."""
    return message_id.removesuffix(REPLY_SUFFIX)


class MessageRepository:
    """Tenant-scoped access to the ``messages`` collection."""

    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[MessageDocument] = db["messages"]
        self._pending = PendingEvents(db)
        self._turns = OpenTurns(db)

    def insert_once(self, doc: MessageDocument) -> tuple[MessageDocument, bool]:
        """Insert ``doc`` unless its (tenant, dedupe_key) exists; return the stored one and
        whether it is new. Atomic through the unique index, never check-then-insert.

        The events ``doc`` carries must belong to this new id alone: when the insert loses to
        an earlier message with the same key, their notes are dropped with it."""
        noted = self._pending.note(
            "messages",
            doc["_id"],
            [entry["id"] for entry in doc.get("outbox", [])],
            turn=turn_of(doc["_id"]),
        )
        # A turn: an inbound message, or a proactive one (its deliver stage closes it).
        opened = (doc.get("direction") == "inbound" or bool(doc.get("proactive"))) and (
            self._turns.open(doc["tenant_id"], doc["_id"])
        )
        try:
            self._collection.insert_one(doc)
        except DuplicateKeyError:
            self._pending.forget(noted)
            if opened:
                self._turns.close(doc["_id"])
            existing = self._collection.find_one(
                {"tenant_id": doc["tenant_id"], "dedupe_key": doc["dedupe_key"]}
            )
            if existing is None:  # the key was released between our insert and this read
                raise
            return existing, False
        return doc, True

    def close_turn(self, tenant_id: str, message_id: str) -> None:
        """The tenant's turn's note is closed: the reconciler leaves it alone from now on."""
        self._turns.close_for(tenant_id, message_id)

    def delete_unqueued_proactive(self, tenant_id: str, message_id: str) -> None:
        """Remove a proactive message whose enqueue failed (nothing was sent), and its note."""
        if delete_by_id(
            self._collection,
            message_id,
            {"tenant_id": tenant_id, "proactive": True, "status": Status.GENERATED.value},
        ):
            self._turns.close(message_id)

    def by_dedupe_key(self, tenant_id: str, dedupe_key: str) -> MessageDocument | None:
        """The tenant's message stored under ``dedupe_key``, if any (a scan on FerretDB v1:
        for idempotent replays of the few routes that need one before anything is built)."""
        found: MessageDocument | None = self._collection.find_one(
            {"tenant_id": tenant_id, "dedupe_key": dedupe_key}
        )
        return found

    def get(self, tenant_id: str, message_id: str) -> MessageDocument:
        doc = self.find(tenant_id, message_id)
        if doc is None:
            raise NotFound(f"message {message_id} not found")
        return doc

    def find(self, tenant_id: str, message_id: str) -> MessageDocument | None:
        return find_by_id(self._collection, message_id, {"tenant_id": tenant_id})

    def delete_unqueued(self, tenant_id: str, message_id: str) -> None:
        """Remove a message whose enqueue failed, so a provider retry can claim it again."""
        if delete_by_id(
            self._collection, message_id, {"tenant_id": tenant_id, "status": Status.ACCEPTED.value}
        ):
            self._turns.close(message_id)

    def advance(
        self,
        tenant_id: str,
        message_id: str,
        status: Status,
        fields: dict[str, Any] | None = None,
        events: Sequence[CloudEvent] = (),
        current: MessageDocument | None = None,
        passing: Status | None = None,
    ) -> bool:
        """Move to ``status`` (and set ``fields``) only from an earlier status; True if it moved.
        ``events`` join the outbox in the same atomic update, so they exist iff the move does.
        ``current``: the caller's fresh copy of the message, which saves a read. ``passing``: a
        status the move goes through on the way, its journey time set too (one write where
        there would be two); it needs ``current``, whose journey is written back whole with
        both times in order (the server would sort the two paths by name)."""
        now = utcnow()
        journey: dict[str, Any] = {f"journey.{status.value}": now}
        if passing is not None:
            if current is None:
                raise ValueError("a move passing through a status needs the current document")
            steps = {**current.get("journey", {}), passing.value: now, status.value: now}
            journey = {"journey": steps}
        update: dict[str, Any] = {
            "$set": {
                "status": status.value,
                **journey,
                "updated_at": now,
                **(fields or {}),
            }
        }
        if events:
            # Noted first, so the events are never in the document without their notes. A
            # move that does not happen leaves orphan notes, which the relay clears.
            self._pending.note(
                "messages", message_id, [event.id for event in events], turn=turn_of(message_id)
            )
            update.update(outbox_push(events))
        moved = update_by_id(
            self._collection,
            message_id,
            {"tenant_id": tenant_id, "status": {"$in": predecessors(status)}},
            update,
            current,
        )
        if moved and status in TERMINAL:
            self._turns.close(message_id)  # a crash before this leaves it to the reconciler
        return moved

    def mark_stage(self, tenant_id: str, message_id: str, stage: str) -> bool:
        """Stamp a journey stage that is not a status (e.g. ``audited``) once."""
        now = utcnow()
        return update_by_id(
            self._collection,
            message_id,
            {"tenant_id": tenant_id, f"journey.{stage}": {"$exists": False}},
            {"$set": {f"journey.{stage}": now, "updated_at": now}},
        )

    def note_choice_shown(self, tenant_id: str, message_id: str, shown: ChoiceShown) -> bool:
        """How showing a click's choice on the clicked message ended, once (tasks/choices.py)."""
        return update_by_id(
            self._collection,
            message_id,
            {"tenant_id": tenant_id, "choice_shown": {"$exists": False}},
            {"$set": {"choice_shown": shown, "updated_at": utcnow()}},
        )

    def history(
        self, tenant_id: str, conversation_id: str, before_id: str | None, limit: int
    ) -> list[MessageDocument]:
        """The last ``limit`` messages before ``before_id`` (None: of all), oldest first."""
        query: dict[str, Any] = {"tenant_id": tenant_id, "conversation_id": conversation_id}
        if before_id is not None:
            query["_id"] = {"$lt": before_id}
        cursor = self._collection.find(query).sort("_id", DESCENDING).limit(limit)
        return list(reversed(list(cursor)))

    def page(
        self, tenant_id: str, conversation_id: str, after_id: str | None, limit: int
    ) -> list[MessageDocument]:
        """Up to ``limit`` messages after ``after_id`` in conversation order (newest last)."""
        query: dict[str, Any] = {"tenant_id": tenant_id, "conversation_id": conversation_id}
        if after_id is not None:
            query["_id"] = {"$gt": after_id}
        cursor = self._collection.find(query).sort("_id", ASCENDING).limit(limit)
        return list(cursor)

    def insert_reply(self, doc: MessageDocument) -> bool:
        """Insert the turn's reply; False when a previous run already stored it."""
        try:
            self._collection.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    def release_dedupe_key(self, tenant_id: str, message_id: str, key: str) -> None:
        """Give up a message's idempotency claim (its window is over); the message stays."""
        update_by_id(
            self._collection,
            message_id,
            {"tenant_id": tenant_id, "idempotency_key": key},
            {
                "$set": {"dedupe_key": f"released:{message_id}", "released_idempotency_key": key},
                "$unset": {"idempotency_key": ""},
            },
        )

    def release_idempotency_keys(self, cutoff: datetime, batch: int) -> int:
        """Release the claims of messages accepted before ``cutoff``; returns how many."""
        cursor = self._collection.find(
            {"idempotency_key": {"$exists": True}, "created_at": {"$lt": cutoff}},
            {"_id": 1, "tenant_id": 1, "idempotency_key": 1},
        ).limit(batch)
        released = 0
        for doc in cursor:
            self.release_dedupe_key(doc["tenant_id"], doc["_id"], doc["idempotency_key"])
            released += 1
        return released

    def apply_provider_status(
        self,
        tenant_id: str,
        provider_message_id: str,
        status: Status,
        fields: dict[str, Any] | None = None,
        *,
        channel_config_id: str | None = None,
        user_id: str | None = None,
    ) -> int:
        """Move our outbound message(s) the provider id names forward to ``status``: only those
        sent through ``channel_config_id`` and, when given, to ``user_id`` (some providers'
        ids repeat across conversations, e.g. Teams activity ids). A reply still ``sending`` is
        left to the deliver stage (storage/provider_reports.py), and a failure is taken only
        from ``sent``: a late or reordered one never undoes delivered or read."""
        query: dict[str, Any] = {
            "tenant_id": tenant_id,
            "provider_message_ids": provider_message_id,
        }
        if channel_config_id is not None:
            query["channel_config_id"] = channel_config_id
        if user_id is not None:
            query["user_id"] = user_id
        allowed = (
            [Status.SENT.value]
            if status is Status.FAILED
            else [s for s in predecessors(status) if s != Status.SENDING.value]
        )
        return self._advance_many(query, status, fields, allowed)

    def apply_watermark(
        self,
        tenant_id: str,
        channel_config_id: str,
        user_id: str,
        status: Status,
        watermark: datetime,
    ) -> int:
        """Move every outbound message sent to ``user_id`` before ``watermark`` to ``status``."""
        return self._advance_many(
            {
                "tenant_id": tenant_id,
                "channel_config_id": channel_config_id,
                "user_id": user_id,
                f"journey.{Status.SENT.value}": {"$lte": watermark},
            },
            status,
            None,
        )

    def _advance_many(
        self,
        query: dict[str, Any],
        status: Status,
        fields: dict[str, Any] | None,
        allowed: list[str] | None = None,
    ) -> int:
        """Move each outbound message ``query`` finds to ``status``, the events of the move
        (``chat.message.delivered|read|failed``, core/chat_events.py) in the same update."""
        now = utcnow()
        update = {"status": status.value, f"journey.{status.value}": now, "updated_at": now}
        update.update(fields or {})
        allowed = predecessors(status) if allowed is None else allowed
        behind = {**query, "direction": "outbound", "status": {"$in": allowed}}
        moved = 0
        # FerretDB v1 rewrites whole documents without locking, so a concurrent update of the
        # same message (e.g. a stage's) can undo this one: look, and redo.
        for _ in range(LOST_UPDATE_TRIES):
            for doc in self._collection.find(behind):
                error = (fields or {}).get("delivery_error")
                events = status_reported(doc, status.value, now, error)
                write: dict[str, Any] = {"$set": update}
                if events:  # noted first, as in ``advance``
                    self._pending.note("messages", doc["_id"], [event.id for event in events])
                    write.update(outbox_push(events))
                moved += update_by_id(self._collection, doc["_id"], behind, write, doc)
            time.sleep(LOST_UPDATE_PAUSE)
            if self._collection.find_one(behind, {"_id": 1}) is None:
                break
        return moved

    def rewind(self, tenant_id: str, message_id: str, status: Status) -> bool:
        """The one backwards move: a failed or dead-lettered message set back to ``status`` so a
        replay can run it again. Attempt counters start afresh."""
        now = utcnow()
        parked = {
            "tenant_id": tenant_id,
            "status": {"$in": [Status.FAILED.value, Status.DEAD_LETTERED.value]},
        }
        doc = find_by_id(self._collection, message_id, parked, {"direction": 1})
        if doc is None:
            return False
        if doc.get("direction") == "inbound":
            self._turns.open(tenant_id, message_id)  # the turn is in flight again
        return update_by_id(
            self._collection,
            message_id,
            parked,
            {
                "$set": {"status": status.value, "updated_at": now, "replayed_at": now},
                "$unset": {"attempts": "", "failure": ""},
            },
        )

    def set_next_attempt(self, tenant_id: str, message_id: str, at: datetime) -> None:
        """When a retry is due; the reconciler leaves the turn alone until then."""
        update_by_id(
            self._collection,
            message_id,
            {"tenant_id": tenant_id},
            {"$set": {"next_attempt_at": at, "updated_at": utcnow()}},
        )

    def count_attempt(
        self, tenant_id: str, message_id: str, stage: str, now: datetime, counted: bool = True
    ) -> MessageDocument | None:
        """One more failed attempt at ``stage`` (``counted=False``: only its time is noted);
        the message after it, None if it is gone."""
        return find_one_and_update_by_id(
            self._collection,
            message_id,
            {"tenant_id": tenant_id},
            {
                "$inc": {f"attempts.{stage}": 1 if counted else 0},
                "$min": {f"first_attempt_at.{stage}": now},
            },
        )

    def record_part_sent(
        self,
        tenant_id: str,
        message_id: str,
        index: int,
        provider_message_ids: list[str],
        current: Mapping[str, Any] | None = None,
        sending_at: datetime | None = None,
    ) -> None:
        """Part ``index`` went out: a retry starts after it. ``current``: the sender's own
        record of the message's ``sent_parts`` (it holds the send lease), which saves a read.
        ``sending_at``: the first part of a reply still ``generated`` went out, and the reply is
        ``sending`` from then on, in the same write that records the part's provider ids (so
        a status report that names them finds the reply ``sending``, and leaves it to the
        deliver stage: ``apply_provider_status``)."""
        fields: dict[str, Any] = {"sent_parts": index + 1, "updated_at": utcnow()}
        if sending_at is not None:
            sending = Status.SENDING.value
            fields |= {"status": sending, f"journey.{sending}": sending_at}
        update_by_id(
            self._collection,
            message_id,
            {"tenant_id": tenant_id, "sent_parts": {"$in": [None, index]}},
            {
                "$set": fields,
                "$push": {"provider_message_ids": {"$each": provider_message_ids}},
            },
            current,
        )

    def turns_in_flight(self) -> list[tuple[str, str, str]]:
        """(tenant, conversation, message id) of every turn whose note is open and whose message
        is stored and not terminal, across tenants: what the turn-order index is rebuilt from."""
        found: list[tuple[str, str, str]] = []
        for message_id in self._turns.all_ids():
            doc = self._collection.find_one(
                {"_id": message_id}, {"tenant_id": 1, "conversation_id": 1, "status": 1}
            )
            if doc is not None and doc["status"] not in TERMINAL:
                found.append((doc["tenant_id"], doc["conversation_id"], message_id))
        return found

    def stuck(
        self, statuses: Sequence[Status], cutoff: datetime, now: datetime, limit: int
    ) -> list[StuckTurn]:
        """Inbound messages in ``statuses`` untouched since ``cutoff`` with no retry due later
        (across tenants: the reconciler's view). Only open turns are looked at, each by ``_id``;
        notes of turns that ended, or whose message was never stored, are cleared on the way."""
        wanted = {s.value for s in statuses}
        found: list[StuckTurn] = []
        for note in self._turns.opened_before(cutoff, limit):
            doc = self._collection.find_one(
                {"_id": note["_id"]},
                {
                    "tenant_id": 1,
                    "conversation_id": 1,
                    "status": 1,
                    "updated_at": 1,
                    "next_attempt_at": 1,
                },
            )
            if doc is None or doc["status"] in TERMINAL:
                self._turns.close(note["_id"])
                continue
            due = doc.get("next_attempt_at")
            # A document without ``updated_at`` (written by hand or by an older version) has
            # not moved since its note was opened: it gets that time, so the reconciler reads
            # every turn it is handed the same way and one such document cannot stop a pass.
            doc.setdefault("updated_at", note["at"])
            if (
                doc["status"] in wanted
                and doc["updated_at"] < cutoff
                and (due is None or due < now)
            ):
                found.append(doc)
        return found

    def note_redrive(self, tenant_id: str, message_id: str) -> None:
        """Count a re-drive on the message (who re-drives is claimed atomically, as a Redis
        lease: storage/leases.py) and restart its quiet time."""
        update_by_id(
            self._collection,
            message_id,
            {"tenant_id": tenant_id},
            {"$set": {"updated_at": utcnow()}, "$inc": {"redriven": 1}},
        )
