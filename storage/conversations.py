"""Conversations: one open conversation per (tenant, channel, user), resolved atomically."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.errors import Conflict, NotFound
from core.events import conversation_started
from core.ids import new_id
from core.timeutil import utcnow
from storage.outbox import with_outbox

Conversation = dict[str, Any]


def _open_key(channel: str, user_id: str, scope: str | None) -> str:
    return f"{channel}:{scope}:{user_id}" if scope else f"{channel}:{user_id}"


class ConversationRepository:
    """Tenant-scoped access to the ``conversations`` collection."""

    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[Any] = db["conversations"]

    def resolve_open(
        self,
        tenant_id: str,
        channel: str,
        user_id: str,
        started_by: str,
        scope: str | None = None,
    ) -> Conversation:
        """The user's open conversation on this channel, created if there is none.

        The unique (tenant_id, open_key) index makes this safe under concurrency: of two
        simultaneous upserts one wins and the other reads the winner's document.
        """
        key = _open_key(channel, user_id, scope)
        now = utcnow()
        query = {"tenant_id": tenant_id, "open_key": key}
        insert = {
            "_id": new_id("conv"),
            "tenant_id": tenant_id,
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
        insert = with_outbox(insert, [conversation_started(insert)])
        for _ in range(3):
            try:
                doc: Conversation | None = self._collection.find_one_and_update(
                    query,
                    {"$setOnInsert": insert},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue
            if doc is not None:
                return doc
        found: Conversation | None = self._collection.find_one(query)
        if found is None:
            raise Conflict("could not resolve the open conversation")
        return found

    def get(self, tenant_id: str, conversation_id: str) -> Conversation:
        doc: Conversation | None = self._collection.find_one(
            {"_id": conversation_id, "tenant_id": tenant_id}
        )
        if doc is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return doc

    def open_for_user(
        self, tenant_id: str, conversation_id: str, channel: str, user_id: str
    ) -> Conversation:
        """A conversation the caller named, checked to be this user's and still open."""
        doc = self.get(tenant_id, conversation_id)
        if doc["user_id"] != user_id or doc["channel"] != channel:
            raise NotFound(f"conversation {conversation_id} not found")
        if doc["state"] != "open":
            raise Conflict(f"conversation {conversation_id} is closed")
        return doc

    def touch(self, tenant_id: str, conversation_id: str, message_id: str, at: datetime) -> None:
        """Record activity; ``$max`` keeps it correct when stages re-run or finish out of order."""
        self._collection.update_one(
            {"_id": conversation_id, "tenant_id": tenant_id},
            {"$max": {"last_message_at": at, "last_message_id": message_id}},
        )
