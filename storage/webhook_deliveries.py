"""Outbound webhook deliveries: one per (subscription, event), its attempts, and its place in
its endpoint's order.

The delivery's ``_id`` is its ``webhook-id`` (``webhook_id_for``: a digest of the subscription
and the event id), so an event fanned out twice inserts once: the unique ``_id`` is the
dedupe, atomic on MongoDB and FerretDB alike.

    pending ──attempt fails──▶ failed ──retry──▶ … ──schedule exhausted──▶ dead
       │                          │
       └──────── 2xx ─────────────┴──▶ delivered          (a replay makes either pending again)

An attempt is claimed in Redis (``claim_attempt``) before it is made, so two runs of the same
task (a redelivery, a re-drive racing a retry) send once.

Ordering: deliveries of one subscription about one conversation share an ``order_key`` and
take increasing ``sequence`` numbers from ``webhook_sequences`` (``$inc`` on one document by
``_id``). A delivery is sent only when no delivery with a lower sequence under its key is still
pending or failed (``blocker``); events without a conversation have no key and no order. The
sequence is taken once per event and conversation by the one consumer that reads their Kafka
partition in order, so the counter is not raced in practice; a tie would only order the two by
id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError
from redis import Redis

from core.errors import NotFound
from core.ids import new_id
from core.timeutil import utcnow
from storage.by_id import find_by_id, update_by_id

DeliveryDocument = dict[str, Any]
PENDING, FAILED, DELIVERED, DEAD = "pending", "failed", "delivered", "dead"
STATUSES = (PENDING, FAILED, DELIVERED, DEAD)
OPEN_STATUSES = (PENDING, FAILED)  # still to be sent: they hold back later ones in their order
ERROR_MAX = 300
ATTEMPT_CLAIMS_PREFIX = "parley:webhook-attempt:"
# Longer than any one attempt (its timeout is at most a minute), short enough that an attempt
# whose worker died is made again by the next re-drive or so.
ATTEMPT_CLAIM_SECONDS = 300


def webhook_id_for(subscription_id: str, event_id: str) -> str:
    """The delivery's ``webhook-id``: the same for the same subscription and event, no dots."""
    digest = hashlib.sha256(f"{subscription_id}\0{event_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


class WebhookDeliveryRepository:
    """Access to ``webhook_deliveries``; reads for the API are tenant-scoped."""

    def __init__(
        self, db: Database[Any], redis: Redis, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._redis = redis
        self._collection: Collection[DeliveryDocument] = db["webhook_deliveries"]
        self._sequences: Collection[dict[str, Any]] = db["webhook_sequences"]
        self._clock = clock

    def create(
        self,
        *,
        tenant_id: str,
        subscription_id: str,
        event_id: str,
        event_type: str,
        conversation_id: str | None,
        payload: str,
    ) -> DeliveryDocument | None:
        """The new pending delivery, or None if this event was fanned out to it before."""
        webhook_id = webhook_id_for(subscription_id, event_id)
        if self._collection.find_one({"_id": webhook_id}, {"_id": 1}) is not None:
            return None  # spares a sequence number; the insert below is the real dedupe
        order_key = f"{subscription_id}:{conversation_id}" if conversation_id else None
        now = self._clock()
        doc: DeliveryDocument = {
            "_id": webhook_id,
            "log_id": new_id("whd"),
            "tenant_id": tenant_id,
            "subscription_id": subscription_id,
            "event_id": event_id,
            "event_type": event_type,
            "conversation_id": conversation_id,
            "order_key": order_key,
            "sequence": self._next_sequence(order_key) if order_key else 0,
            "payload": payload,
            "status": PENDING,
            "attempts": [],
            "retry": 0,
            "replays": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        try:
            self._collection.insert_one(doc)
        except DuplicateKeyError:
            return None
        return doc

    def _next_sequence(self, order_key: str) -> int:
        counter = self._sequences.find_one_and_update(
            {"_id": order_key},
            {"$inc": {"last": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(counter["last"]) if counter else 1

    def find(self, webhook_id: str) -> DeliveryDocument | None:
        doc: DeliveryDocument | None = self._collection.find_one({"_id": webhook_id})
        return doc

    def get(self, tenant_id: str, subscription_id: str, webhook_id: str) -> DeliveryDocument:
        conditions = {"tenant_id": tenant_id, "subscription_id": subscription_id}
        doc = find_by_id(self._collection, webhook_id, conditions)
        if doc is None:
            raise NotFound(f"webhook delivery {webhook_id} not found")
        return doc

    def page(
        self,
        tenant_id: str,
        subscription_id: str,
        *,
        before: str | None = None,
        limit: int = 50,
    ) -> list[DeliveryDocument]:
        """Up to ``limit`` of the subscription's deliveries, newest first, older than the
        ``log_id`` ``before``."""
        if limit < 1:
            raise ValueError("limit must be positive")  # pymongo reads 0 as "no limit"
        query: dict[str, Any] = {"tenant_id": tenant_id, "subscription_id": subscription_id}
        if before is not None:
            query["log_id"] = {"$lt": before}
        return list(self._collection.find(query).sort("log_id", DESCENDING).limit(limit))

    def blocker(self, doc: DeliveryDocument) -> DeliveryDocument | None:
        """The earliest delivery ahead of ``doc`` in its order that is still to be sent."""
        if not doc.get("order_key"):
            return None
        query = {
            "order_key": doc["order_key"],
            "sequence": {"$lt": doc["sequence"]},
            "status": {"$in": list(OPEN_STATUSES)},
        }
        return self._collection.find_one(query, sort=[("sequence", ASCENDING)])

    def next_in_order(self, doc: DeliveryDocument) -> DeliveryDocument | None:
        """The earliest delivery after ``doc`` in its order that is still to be sent."""
        if not doc.get("order_key"):
            return None
        query = {
            "order_key": doc["order_key"],
            "sequence": {"$gt": doc["sequence"]},
            "status": {"$in": list(OPEN_STATUSES)},
        }
        return self._collection.find_one(query, sort=[("sequence", ASCENDING)])

    def due(self, before: datetime, limit: int = 100) -> list[DeliveryDocument]:
        """Deliveries still to be sent whose next attempt was due before ``before``."""
        query = {"status": {"$in": list(OPEN_STATUSES)}, "next_attempt_at": {"$lt": before}}
        found = self._collection.find(query, {"payload": 0}).sort("next_attempt_at", ASCENDING)
        return list(found.limit(limit))

    def postpone(self, doc: DeliveryDocument, until: datetime) -> None:
        """Not sent yet (waiting behind another): the re-drive need not look before ``until``."""
        update = {"$set": {"next_attempt_at": until, "updated_at": self._clock()}}
        update_by_id(self._collection, doc["_id"], {"status": {"$in": list(OPEN_STATUSES)}}, update)

    def claim_attempt(self, doc: DeliveryDocument) -> bool:
        """Take the right to make ``doc``'s next attempt; of two runs at once only one gets
        it. The claim lapses after ``ATTEMPT_CLAIM_SECONDS``, so a worker that died while
        sending leaves the attempt to the re-drive."""
        key = f"{ATTEMPT_CLAIMS_PREFIX}{doc['_id']}:{len(doc['attempts']) + 1}"
        return bool(self._redis.set(key, "1", nx=True, ex=ATTEMPT_CLAIM_SECONDS))

    def record_attempt(
        self,
        doc: DeliveryDocument,
        *,
        at: datetime,
        status: str,
        response_status: int | None,
        error: str | None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """Append one attempt (made under ``claim_attempt``) and move the delivery to
        ``status``."""
        attempt = {
            "number": len(doc["attempts"]) + 1,
            "at": at,
            "response_status": response_status,
            "error": error[:ERROR_MAX] if error else None,
        }
        fields: dict[str, Any] = {"status": status, "updated_at": self._clock()}
        if next_attempt_at is not None:
            fields["next_attempt_at"] = next_attempt_at
        if status == DELIVERED:
            fields["delivered_at"] = at
        update = {"$push": {"attempts": attempt}, "$inc": {"retry": 1}, "$set": fields}
        self._collection.update_one({"_id": doc["_id"]}, update)

    def give_up(self, doc: DeliveryDocument, reason: str) -> None:
        """Dead without an attempt (the subscription is gone or disabled)."""
        update = {"$set": {"status": DEAD, "dead_reason": reason, "updated_at": self._clock()}}
        update_by_id(self._collection, doc["_id"], {"status": {"$in": list(OPEN_STATUSES)}}, update)

    def replay(self, tenant_id: str, subscription_id: str, webhook_id: str) -> DeliveryDocument:
        """Make the delivery pending again with a fresh retry schedule; same ``webhook-id``."""
        doc = self.get(tenant_id, subscription_id, webhook_id)
        now = self._clock()
        update = {
            "$set": {"status": PENDING, "retry": 0, "next_attempt_at": now, "updated_at": now},
            "$inc": {"replays": 1},
            "$unset": {"dead_reason": ""},
        }
        update_by_id(self._collection, webhook_id, {"tenant_id": tenant_id}, update)
        return {**doc, "status": PENDING, "retry": 0, "replays": doc["replays"] + 1}

    def delete_for(self, tenant_id: str, subscription_id: str) -> None:
        self._collection.delete_many({"tenant_id": tenant_id, "subscription_id": subscription_id})
