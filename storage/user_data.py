"""One end user's data across Parley's stores: found, exported, erased (``/v1/privacy/*``).

A user is a tenant's ``user_id`` (the channel's id for them: a phone number, a PSID, a widget's
visitor id). What Parley keeps of them:

    MongoDB   conversations (and their recent history), messages both ways, audit records and
              dead letters of their turns, the outbox notes of those documents, widget uploads,
              outbound webhook deliveries of their conversations' events
    GridFS    the media their messages carried (``processing.media.blob_id``)
    Redis     per conversation: the session, the turn-order lists, the closed mark, the
              events' sequence numbers; per visitor: the widget's event stream

Erasing deletes all of it. The user's conversation slots (``conversation_slots``: a digest and a
generation, nothing readable) are moved past every erased generation rather than deleted, so the
user's next message opens a conversation with a new id and no erased id ever comes back.
A turn still in the chain would write the reply of an erased message after the erasure, so
an erasure is refused while one is in flight (``TurnInFlight``); the chain finishes a turn
within seconds, then the request goes through.

Events already on Kafka are keyed by conversation id; the caller publishes a tombstone (a
record with the key and no value) for each erased conversation on every chat topic, which
tells each consumer to drop what it derived from that key (``Handler.forget``, e.g. the audit
trail's ``event_log``; see docs/privacy.md).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from pymongo.database import Database
from redis import Redis

from core.errors import Conflict
from storage.admin_audit import AdminAuditLog
from storage.blobs import BlobStore
from storage.conversations import CLOSED_MARK_SECONDS, SLOTS_COLLECTION, closed_mark_key, retire
from storage.event_sequence import sequence_key
from storage.outbox import PENDING_COLLECTION
from storage.retention import IN_FLIGHT
from storage.sessions import session_keys
from storage.turn_order import conversation_keys
from storage.visitor_streams import stream_key

# Fields an export leaves out: the machinery of the outbox and processing, not the user's data.
_INTERNAL = ("outbox", "recent", "open_key", "dedupe_key")


class TurnInFlight(Conflict):
    """A turn of the user is still in the chain; erasing now would race its reply."""


@dataclass(frozen=True)
class Erased:
    """What an erasure deleted, per store."""

    conversations: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


class UserData:
    def __init__(self, db: Database[Any], redis: Redis, blobs: BlobStore) -> None:
        self._db = db
        self._redis = redis
        self._blobs = blobs

    def conversation_ids(self, tenant_id: str, user_id: str) -> list[str]:
        found = self._db["conversations"].find(
            {"tenant_id": tenant_id, "user_id": user_id}, {"_id": 1}
        )
        return sorted(str(doc["_id"]) for doc in found)

    def _message_query(self, tenant_id: str, user_id: str, conversations: list[str]) -> Any:
        return {
            "tenant_id": tenant_id,
            "$or": [{"user_id": user_id}, {"conversation_id": {"$in": conversations}}],
        }

    def export(self, tenant_id: str, user_id: str) -> dict[str, Any]:
        """Everything Parley keeps of the user, as JSON-ready data (files base64-encoded)."""
        conversations = self.conversation_ids(tenant_id, user_id)
        messages = list(
            self._db["messages"]
            .find(self._message_query(tenant_id, user_id, conversations), {"outbox": 0})
            .sort("_id", 1)
        )
        files = []
        for blob_id in _blob_ids(messages):
            blob = self._blobs.find(tenant_id, blob_id)
            if blob is not None:
                files.append(
                    {
                        "blob_id": blob.id,
                        "filename": blob.filename,
                        "mime_type": blob.mime_type,
                        "size": blob.size,
                        "data_base64": base64.b64encode(blob.data).decode(),
                    }
                )
        uploads = self._db["uploads"].find(
            {"tenant_id": tenant_id, "visitor_id": user_id}, {"data": 0}
        )
        docs = self._db["conversations"].find(
            {"tenant_id": tenant_id, "_id": {"$in": conversations}}
        )
        return {
            "user_id": user_id,
            "conversations": [_public(doc) for doc in docs.sort("_id", 1)],
            "messages": [_public(doc) for doc in messages],
            "files": files,
            "uploads": [_public(doc) for doc in uploads],
        }

    def erase(self, tenant_id: str, user_id: str) -> Erased:
        """Delete the user's data from every store; TurnInFlight while a turn of theirs runs.
        Running it again deletes whatever is left (nothing, after a complete run)."""
        conversations = self.conversation_ids(tenant_id, user_id)
        query = self._message_query(tenant_id, user_id, conversations)
        if self._db["messages"].find_one({**query, "status": {"$in": IN_FLIGHT}}, {"_id": 1}):
            raise TurnInFlight("a message of this user is still being answered; retry shortly")
        messages = list(self._db["messages"].find(query, {"_id": 1, "processing.media.blob_id": 1}))
        message_ids = [str(doc["_id"]) for doc in messages]
        blobs = sum(self._blobs.delete(tenant_id, blob_id) for blob_id in _blob_ids(messages))
        counts = {
            "messages": self._db["messages"].delete_many(query).deleted_count,
            "audit": self._db["audit"]
            .delete_many(
                {
                    "tenant_id": tenant_id,
                    "$or": [
                        {"conversation_id": {"$in": conversations}},
                        {"_id": {"$in": [f"turn:{each}" for each in message_ids]}},
                    ],
                }
            )
            .deleted_count,
            "dead_letters": self._db["dead_letters"]
            .delete_many(
                {
                    "tenant_id": tenant_id,
                    "$or": [
                        {"conversation_id": {"$in": conversations}},
                        {"message_id": {"$in": message_ids}},
                    ],
                }
            )
            .deleted_count,
            # Signed deliveries of their events, waiting or logged, carry the events' data.
            "webhook_deliveries": self._db["webhook_deliveries"]
            .delete_many({"tenant_id": tenant_id, "conversation_id": {"$in": conversations}})
            .deleted_count,
            "uploads": self._db["uploads"]
            .delete_many({"tenant_id": tenant_id, "visitor_id": user_id})
            .deleted_count,
            "blobs": blobs,
            # The audit trail's entries that name the user (their exports).
            "admin_audit": AdminAuditLog(self._db).forget_user(tenant_id, user_id),
        }
        self._db[PENDING_COLLECTION].delete_many({"owner": {"$in": [*message_ids, *conversations]}})
        counts["conversations"] = self._erase_conversations(tenant_id, conversations)
        counts["redis_keys"] = self._erase_redis(tenant_id, user_id, conversations)
        return Erased(conversations, counts)

    def _erase_conversations(self, tenant_id: str, conversations: list[str]) -> int:
        fields = {
            "tenant_id": 1,
            "channel": 1,
            "user_id": 1,
            "channel_config_id": 1,
            "generation": 1,
        }
        query = {"tenant_id": tenant_id, "_id": {"$in": conversations}}
        for doc in self._db["conversations"].find(query, fields):
            retire(self._db[SLOTS_COLLECTION], doc)
        # Every process that remembers one of them as open sees it closed, and resolves anew.
        for conversation_id in conversations:
            self._redis.set(closed_mark_key(tenant_id, conversation_id), 1, ex=CLOSED_MARK_SECONDS)
        return int(self._db["conversations"].delete_many(query).deleted_count)

    def _erase_redis(self, tenant_id: str, user_id: str, conversations: list[str]) -> int:
        keys = [
            key
            for conversation_id in conversations
            for key in (
                *session_keys(tenant_id, conversation_id),
                *conversation_keys(tenant_id, conversation_id),
                sequence_key(conversation_id),
            )
        ]
        # A widget visitor's stream: the widget is not known here, so every widget's is matched.
        pattern = stream_key(tenant_id, "*", _glob_escape(user_id))
        keys.extend(key.decode() for key in self._redis.scan_iter(match=pattern, count=500))
        return int(self._redis.delete(*keys)) if keys else 0


def _blob_ids(messages: list[dict[str, Any]]) -> list[str]:
    ids = []
    for doc in messages:
        media = (doc.get("processing") or {}).get("media")
        if isinstance(media, dict) and isinstance(media.get("blob_id"), str):
            ids.append(media["blob_id"])
    return ids


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if key not in _INTERNAL}


def _glob_escape(text: str) -> str:
    """``text`` matched literally by a Redis glob."""
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)
