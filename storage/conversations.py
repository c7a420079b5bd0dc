"""Conversations: one open conversation per (tenant, channel, user), resolved atomically.

A user's conversations on one open key (channel, account, user) are numbered: generation 0,
1, ... Each one's id is derived from (tenant, open key, generation), and a small slot document
per open key (``conversation_slots``, by ``_id``) says which generation is current. Closing a
conversation moves its slot to the next generation, so the user's next message opens a new
conversation; the unique (tenant, open key) index still admits one open conversation per key,
because a closed one gives its key up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError
from redis import Redis

from core.chat_events import conversation_ended, conversation_started
from core.errors import Conflict, NotFound
from core.timeutil import utcnow
from core.ttl_cache import TtlCache
from storage.by_id import find_by_id, update_by_id, write_filter
from storage.documents import ConversationDocument, RecentEntry
from storage.outbox import PendingEvents, push, with_outbox

OPEN, CLOSED = "open", "closed"
CONVERSATION_STATES = (OPEN, CLOSED)
# Why a conversation closed: a caller closed it, or the idle beat job did.
CLOSED_BY_CALLER, CLOSED_IDLE = "closed", "idle"
CLOSE_REASONS = (CLOSED_BY_CALLER, CLOSED_IDLE)
SLOTS_COLLECTION = "conversation_slots"
# A close is marked in Redis this long: the longest a process may remember an open conversation
# (``PARLEY_CONVERSATION_CACHE_SECONDS`` allows up to an hour).
CLOSED_MARK_SECONDS = 3600
# Generations walked past in one resolve: each is a close the slot did not record (a closer
# that died in between), so more than this is a bug.
MAX_UNRECORDED_CLOSES = 10


def _open_key(channel: str, user_id: str, scope: str | None) -> str:
    return f"{channel}:{scope}:{user_id}" if scope else f"{channel}:{user_id}"


def _digest(tenant_id: str, key: str, generation: int) -> str:
    seed = f"{tenant_id}\x1f{key}" + (f"\x1f{generation}" if generation else "")
    return hashlib.blake2b(seed.encode(), digest_size=12).hexdigest()


def closed_mark_key(tenant_id: str, conversation_id: str) -> str:
    return f"parley:conversation-closed:{tenant_id}:{conversation_id}"


def _slot_id(tenant_id: str, key: str) -> str:
    return f"slot_{_digest(tenant_id, key, 0)}"


def advance_slot(slots: Collection[Any], slot_id: str, tenant_id: str, generation: int) -> None:
    """Move the slot on to ``generation``; ``$max`` never moves it back."""
    slots.update_one(
        {"_id": slot_id},
        {"$max": {"generation": generation}, "$setOnInsert": {"tenant_id": tenant_id}},
        upsert=True,
    )


def advance_slot_past(slots: Collection[Any], tenant_id: str, key: str, generation: int) -> None:
    """Move the open key's slot past ``generation``: that conversation id is never used again."""
    advance_slot(slots, _slot_id(tenant_id, key), tenant_id, generation + 1)


def retire(slots: Collection[Any], conversation: ConversationDocument) -> None:
    """Move the slot of ``conversation``'s open key past it, so its id never comes back."""
    key = _open_key(
        conversation["channel"], conversation["user_id"], conversation.get("channel_config_id")
    )
    advance_slot_past(slots, conversation["tenant_id"], key, conversation.get("generation", 0))


class ConversationRepository:
    """Tenant-scoped access to the ``conversations`` collection."""

    def __init__(
        self, db: Database[Any], remember_seconds: float = 0.0, redis: Redis | None = None
    ) -> None:
        self._collection: Collection[ConversationDocument] = db["conversations"]
        self._slots: Collection[Any] = db[SLOTS_COLLECTION]
        self._pending = PendingEvents(db)
        self._redis = redis
        # (tenant, open key) → the open conversation this process resolved lately (the ingress
        # sets a time); a close anywhere is seen through its Redis mark.
        self._known: TtlCache[tuple[str, str], str] = TtlCache(remember_seconds)

    def resolve_open(
        self,
        tenant_id: str,
        channel: str,
        user_id: str,
        started_by: str,
        scope: str | None = None,
    ) -> str:
        """The id of the user's open conversation on this channel, created if there is none.

        Every lookup is by ``_id`` (FerretDB v1 answers ``_id`` lookups from its index but scans
        for any other filter): the slot, then the conversation of its generation; creation is an
        insert that exactly one of several concurrent requests wins. An id found or created is
        remembered for ``remember_seconds``, so a user's further messages cost no MongoDB read,
        only a Redis check that it was not closed meanwhile (by any process).
        """
        key = _open_key(channel, user_id, scope)
        known = self._known.peek((tenant_id, key))
        if known is not None and not self._closed_lately(tenant_id, known):
            return known
        slot_id = _slot_id(tenant_id, key)
        slot = self._slots.find_one({"_id": slot_id})
        generation = int(slot["generation"]) if slot else 0
        for _ in range(MAX_UNRECORDED_CLOSES):
            conversation_id = f"conv_{_digest(tenant_id, key, generation)}"
            found = find_by_id(self._collection, conversation_id, {"tenant_id": tenant_id})
            if found is None:
                conversation_id = self._create(
                    conversation_id, tenant_id, key, channel, user_id, started_by, scope, generation
                )
            elif found["state"] != OPEN:
                generation += 1  # closed, and its closer died before moving the slot on
                self._advance(slot_id, tenant_id, generation)
                continue
            self._known.put((tenant_id, key), conversation_id)
            return conversation_id
        raise Conflict("could not resolve the open conversation")

    def latest(
        self, tenant_id: str, channel: str, user_id: str, scope: str | None = None
    ) -> ConversationDocument | None:
        """The user's open conversation on this channel, else the one it closed last; None when
        it has had none. Creates nothing; by ``_id`` only, like ``resolve_open``."""
        key = _open_key(channel, user_id, scope)
        slot = self._slots.find_one({"_id": _slot_id(tenant_id, key)})
        generation = int(slot["generation"]) if slot else 0
        # A close moves the slot on: the generation after it has no conversation until the
        # user's next message, and the one before is the conversation just closed.
        for candidate in (generation, generation - 1):
            if candidate < 0:
                break
            conversation_id = f"conv_{_digest(tenant_id, key, candidate)}"
            found = find_by_id(self._collection, conversation_id, {"tenant_id": tenant_id})
            if found is not None:
                return found
        return None

    def _closed_lately(self, tenant_id: str, conversation_id: str) -> bool:
        if self._redis is None:
            return False
        return bool(self._redis.exists(closed_mark_key(tenant_id, conversation_id)))

    def _advance(self, slot_id: str, tenant_id: str, generation: int) -> None:
        advance_slot(self._slots, slot_id, tenant_id, generation)

    def _create(
        self,
        conversation_id: str,
        tenant_id: str,
        key: str,
        channel: str,
        user_id: str,
        started_by: str,
        scope: str | None,
        generation: int,
    ) -> str:
        """Create the conversation ``conversation_id``; returns the id the user's messages go to
        (another one when an open conversation still holds the open key, see below)."""
        now = utcnow()
        insert: ConversationDocument = {
            "_id": conversation_id,
            "tenant_id": tenant_id,
            "open_key": key,
            "channel": channel,
            "user_id": user_id,
            "state": OPEN,
            "channel_config_id": scope,
            "started_by": started_by,
            "created_at": now,
            "last_message_at": now,
            "updated_at": now,
            "generation": generation,
        }
        # The started event is born with the conversation (see storage/outbox.py).
        started = conversation_started(insert)
        insert = with_outbox(insert, [started])
        # Not forgotten when another request's insert wins: the winner's event has this id too.
        self._pending.note("conversations", conversation_id, [started.id])
        try:
            self._collection.insert_one(insert)
        except DuplicateKeyError:
            # Another request created it first; it must be this tenant's (the id says so).
            if find_by_id(self._collection, conversation_id, {"tenant_id": tenant_id}) is not None:
                return conversation_id
            # Else an open conversation of an earlier generation still holds the open key: on
            # FerretDB, which applies an update as read-then-replace, a touch racing the close
            # can write the closed conversation back as open. The user carries on in it rather
            # than being refused (a scan, on this rare path only); the idle job closes it later.
            holder = self._collection.find_one(
                {"tenant_id": tenant_id, "open_key": key, "state": OPEN}, {"_id": 1}
            )
            if holder is None:
                raise Conflict("could not resolve the open conversation") from None
            return str(holder["_id"])
        return conversation_id

    def get(self, tenant_id: str, conversation_id: str) -> ConversationDocument:
        doc = self.find(tenant_id, conversation_id)
        if doc is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return doc

    def find(self, tenant_id: str, conversation_id: str) -> ConversationDocument | None:
        found: ConversationDocument | None = find_by_id(
            self._collection, conversation_id, {"tenant_id": tenant_id}
        )
        return found

    def open_for_user(
        self, tenant_id: str, conversation_id: str, channel: str, user_id: str
    ) -> ConversationDocument:
        """A conversation the caller named, checked to be this user's and still open."""
        doc = self.get(tenant_id, conversation_id)
        if doc["user_id"] != user_id or doc["channel"] != channel:
            raise NotFound(f"conversation {conversation_id} not found")
        if doc["state"] != OPEN:
            raise Conflict(f"conversation {conversation_id} is closed")
        return doc

    def touch(
        self,
        tenant_id: str,
        conversation_id: str,
        message_id: str,
        at: datetime,
        current: ConversationDocument | None = None,
    ) -> None:
        """Record activity; ``$max`` keeps it correct when stages re-run or finish out of order.
        A closed conversation is left as it closed: its idle time is over. ``current``: the
        conversation as the caller just read it, which saves the read."""
        update_by_id(
            self._collection,
            conversation_id,
            {"tenant_id": tenant_id, "state": OPEN},
            {"$max": {"last_message_at": at, "last_message_id": message_id}},
            current,
        )

    def remember_turn(
        self,
        tenant_id: str,
        conversation_id: str,
        entries: list[RecentEntry],
        window: int,
        current: ConversationDocument | None = None,
        activity: tuple[str, datetime] | None = None,
        heard_at: datetime | None = None,
    ) -> None:
        """Keep the last ``window`` messages on the conversation, so the engine's history is
        one ``_id`` read. Turns of a conversation are generated one after another (see
        tasks/generate.py), so this read-then-write does not race itself. (FerretDB v1 ignores
        ``$push`` with ``$slice``, hence the explicit trim.) ``current``, the conversation as
        the stage read it for this turn, saves the read. ``activity``: the (message id, time)
        of the turn's last inbound message, recorded in the same write as ``touch`` would (an
        open conversation only; ``$max`` keeps re-runs and late stages from moving it back).
        ``heard_at``: when the user last wrote (``last_inbound_at``: the channels' 24-hour
        windows for proactive messages, docs/outbound.md)."""
        doc = (
            current
            if current is not None
            and current.get("_id") == conversation_id
            and current.get("tenant_id") == tenant_id
            else find_by_id(
                self._collection,
                conversation_id,
                {"tenant_id": tenant_id},
                {"recent": 1, "state": 1},
            )
        )
        if doc is None:
            return
        known = {entry["_id"] for entry in doc.get("recent", [])}
        recent = [*doc.get("recent", []), *(e for e in entries if e["_id"] not in known)]
        update: dict[str, Any] = {"$set": {"recent": recent[-window:]}}
        latest: dict[str, Any] = {}
        if activity is not None and doc.get("state", OPEN) == OPEN:
            message_id, at = activity
            latest |= {"last_message_at": at, "last_message_id": message_id}
        if heard_at is not None:
            latest["last_inbound_at"] = heard_at
        if latest:
            update["$max"] = latest
        self._collection.update_one(
            write_filter(self._collection, conversation_id, {"tenant_id": tenant_id}), update
        )

    def close(
        self, tenant_id: str, conversation_id: str, reason: str
    ) -> tuple[ConversationDocument, bool]:
        """Close an open conversation; returns it and whether this call closed it.

        One conditional update (open → closed) sets ``closed_at`` and ``close_reason``, gives
        the open key up and stages ``chat.conversation.ended`` in the same write; then the slot
        moves on and a Redis mark tells every process's cache. The event's note is a unique
        insert, so of racing closers exactly one writes (FerretDB v1 does not apply a
        conditional update atomically, see storage/by_id.py); a closed one answers unchanged.
        """
        doc = self.get(tenant_id, conversation_id)
        if doc["state"] != OPEN:
            return doc, False
        now = utcnow()
        ended = conversation_ended(doc, reason, now)
        if not self._pending.note("conversations", conversation_id, [ended.id]):
            return self.get(tenant_id, conversation_id), False  # another closer is at it
        generation = doc.get("generation", 0)
        update: dict[str, Any] = {
            "$set": {
                "state": CLOSED,
                "closed_at": now,
                "close_reason": reason,
                "open_key": f"{doc['open_key']}#{generation}",
                "updated_at": now,
            },
            **push([ended]),
        }
        conditions = {"tenant_id": tenant_id, "state": OPEN}
        if not update_by_id(self._collection, conversation_id, conditions, update, current=doc):
            self._pending.forget([ended.id])
            return self.get(tenant_id, conversation_id), False
        advance_slot_past(self._slots, tenant_id, doc["open_key"], generation)
        self._known.forget((tenant_id, doc["open_key"]))
        if self._redis is not None:
            self._redis.set(closed_mark_key(tenant_id, conversation_id), 1, ex=CLOSED_MARK_SECONDS)
        return self.get(tenant_id, conversation_id), True

    def idle(
        self,
        cutoff: datetime,
        limit: int,
        *,
        tenant_id: str | None = None,
        other_than: Sequence[str] = (),
    ) -> list[ConversationDocument]:
        """Up to ``limit`` open conversations silent since before ``cutoff``, the longest silent
        first: one tenant's, or every tenant's but ``other_than`` (across tenants: admin code).
        Without their history, which closing does not need."""
        if limit < 1:
            raise ValueError("limit must be positive")
        query: dict[str, Any] = {"state": OPEN, "last_message_at": {"$lt": cutoff}}
        if tenant_id is not None:
            query["tenant_id"] = tenant_id
        elif other_than:
            query["tenant_id"] = {"$nin": list(other_than)}
        found = self._collection.find(query, {"recent": 0, "outbox": 0})
        return list(found.sort("last_message_at", ASCENDING).limit(limit))

    def list(
        self,
        tenant_id: str,
        *,
        channel: str | None = None,
        state: str | None = None,
        user_id: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> list[ConversationDocument]:
        """Up to ``limit`` of the tenant's conversations after the id ``after``, in id order."""
        if limit < 1:
            raise ValueError("limit must be positive")  # pymongo reads 0 as "no limit"
        filters = {"channel": channel, "state": state, "user_id": user_id}
        query: dict[str, Any] = {
            "tenant_id": tenant_id,
            **{field: value for field, value in filters.items() if value is not None},
        }
        if after is not None:
            query["_id"] = {"$gt": after}
        return list(self._collection.find(query).sort("_id", ASCENDING).limit(limit))
