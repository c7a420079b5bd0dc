"""Conversations: one open conversation per (tenant, channel, user), resolved atomically."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.chat_events import conversation_started
from core.errors import Conflict, NotFound
from core.timeutil import utcnow
from core.ttl_cache import TtlCache
from storage.by_id import find_by_id, update_by_id, write_filter
from storage.documents import ConversationDocument, RecentEntry
from storage.outbox import PendingEvents, with_outbox


def _open_key(channel: str, user_id: str, scope: str | None) -> str:
    return f"{channel}:{scope}:{user_id}" if scope else f"{channel}:{user_id}"


class ConversationRepository:
    """Tenant-scoped access to the ``conversations`` collection."""

    def __init__(self, db: Database[Any], remember_seconds: float = 0.0) -> None:
        self._collection: Collection[ConversationDocument] = db["conversations"]
        self._pending = PendingEvents(db)
        # Ids of open conversations this process resolved lately (the ingress sets a time).
        self._known: TtlCache[str, bool] = TtlCache(remember_seconds)

    def resolve_open(
        self,
        tenant_id: str,
        channel: str,
        user_id: str,
        started_by: str,
        scope: str | None = None,
    ) -> str:
        """The id of the user's open conversation on this channel, created if there is none.

        The id is derived from (tenant, open key), so the lookup is by ``_id`` (FerretDB v1
        answers ``_id`` lookups from its index but scans for any other filter) and creation is
        an insert that exactly one of several concurrent requests wins. An id found or created
        is remembered for ``remember_seconds``, so a user's further messages cost no read.
        Closing a conversation (not built yet) must change the open key, e.g. with a generation
        counter, which also keeps a remembered id from outliving its conversation.
        """
        key = _open_key(channel, user_id, scope)
        digest = hashlib.blake2b(f"{tenant_id}\x1f{key}".encode(), digest_size=12).hexdigest()
        conversation_id = f"conv_{digest}"
        if self._known.peek(conversation_id):
            return conversation_id
        found = find_by_id(self._collection, conversation_id, {"tenant_id": tenant_id})
        if found is None:
            self._create(conversation_id, tenant_id, key, channel, user_id, started_by, scope)
        self._known.put(conversation_id, True)
        return conversation_id

    def _create(
        self,
        conversation_id: str,
        tenant_id: str,
        key: str,
        channel: str,
        user_id: str,
        started_by: str,
        scope: str | None,
    ) -> None:
        now = utcnow()
        insert: ConversationDocument = {
            "_id": conversation_id,
            "tenant_id": tenant_id,
            "open_key": key,
            "channel": channel,
            "user_id": user_id,
            "state": "open",
            "channel_config_id": scope,
            "started_by": started_by,
            "created_at": now,
            "last_message_at": now,
            "updated_at": now,
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
            if find_by_id(self._collection, conversation_id, {"tenant_id": tenant_id}) is None:
                raise Conflict("could not resolve the open conversation") from None

    def get(self, tenant_id: str, conversation_id: str) -> ConversationDocument:
        doc = find_by_id(self._collection, conversation_id, {"tenant_id": tenant_id})
        if doc is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return doc

    def open_for_user(
        self, tenant_id: str, conversation_id: str, channel: str, user_id: str
    ) -> ConversationDocument:
        """A conversation the caller named, checked to be this user's and still open."""
        doc = self.get(tenant_id, conversation_id)
        if doc["user_id"] != user_id or doc["channel"] != channel:
            raise NotFound(f"conversation {conversation_id} not found")
        if doc["state"] != "open":
            raise Conflict(f"conversation {conversation_id} is closed")
        return doc

    def touch(self, tenant_id: str, conversation_id: str, message_id: str, at: datetime) -> None:
        """Record activity; ``$max`` keeps it correct when stages re-run or finish out of order."""
        update_by_id(
            self._collection,
            conversation_id,
            {"tenant_id": tenant_id},
            {"$max": {"last_message_at": at, "last_message_id": message_id}},
        )

    def remember_turn(
        self,
        tenant_id: str,
        conversation_id: str,
        entries: list[RecentEntry],
        window: int,
        current: ConversationDocument | None = None,
    ) -> None:
        """Keep the last ``window`` messages on the conversation, so the engine's history is
        one ``_id`` read. Turns of a conversation are generated one after another (see
        tasks/generate.py), so this read-then-write does not race itself. (FerretDB v1 ignores
        ``$push`` with ``$slice``, hence the explicit trim.) ``current``, the conversation as
        the stage read it for this turn, saves the read."""
        doc = (
            current
            if current is not None
            and current.get("_id") == conversation_id
            and current.get("tenant_id") == tenant_id
            else find_by_id(
                self._collection, conversation_id, {"tenant_id": tenant_id}, {"recent": 1}
            )
        )
        if doc is None:
            return
        known = {entry["_id"] for entry in doc.get("recent", [])}
        recent = [*doc.get("recent", []), *(e for e in entries if e["_id"] not in known)]
        self._collection.update_one(
            write_filter(self._collection, conversation_id, {"tenant_id": tenant_id}),
            {"$set": {"recent": recent[-window:]}},
        )
