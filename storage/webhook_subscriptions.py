"""Outbound webhook subscriptions: a tenant's endpoints, the event patterns each receives, and
its signing secrets sealed at rest.

A secret is returned once, by ``create`` and ``rotate``; reads never open it except
``signing_secrets``, which the sender uses. A rotation keeps the previous secret signing beside
the new one until ``previous_expires_at``. A subscription is ``active`` or ``disabled``
(by ``disable``: an endpoint that failed for too long, or answered 410 Gone); the sender
tracks ``failing_since``, the first failure since the last success.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database

from core.crypto import SecretBox
from core.errors import NotFound
from core.event_types import matches
from core.ids import new_id
from core.timeutil import as_utc, utcnow
from core.webhook_signatures import new_secret
from storage.by_id import find_by_id, update_by_id

SubscriptionDocument = dict[str, Any]
ACTIVE, DISABLED = "active", "disabled"
STATUSES = (ACTIVE, DISABLED)


class WebhookSubscriptionRepository:
    """Tenant-scoped access to ``webhook_subscriptions``."""

    def __init__(
        self, db: Database[Any], box: SecretBox, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._collection: Collection[SubscriptionDocument] = db["webhook_subscriptions"]
        self._box = box
        self._clock = clock

    def create(
        self, tenant_id: str, url: str, events: list[str], description: str | None
    ) -> tuple[SubscriptionDocument, str]:
        """The new subscription and its secret, which is not shown again."""
        secret = new_secret()
        now = self._clock()
        doc: SubscriptionDocument = {
            "_id": new_id("whs"),
            "tenant_id": tenant_id,
            "url": url,
            "events": events,
            "description": description,
            "status": ACTIVE,
            "sealed_secrets": self._box.seal({"current": secret}),
            "previous_expires_at": None,
            "failing_since": None,
            "created_at": now,
            "updated_at": now,
        }
        self._collection.insert_one(doc)
        return doc, secret

    def find(self, tenant_id: str, subscription_id: str) -> SubscriptionDocument | None:
        return find_by_id(self._collection, subscription_id, {"tenant_id": tenant_id})

    def get(self, tenant_id: str, subscription_id: str) -> SubscriptionDocument:
        doc = self.find(tenant_id, subscription_id)
        if doc is None:
            raise NotFound(f"webhook subscription {subscription_id} not found")
        return doc

    def delete(self, tenant_id: str, subscription_id: str) -> bool:
        result = self._collection.delete_one({"_id": subscription_id, "tenant_id": tenant_id})
        return result.deleted_count == 1

    def rotate(
        self, tenant_id: str, subscription_id: str, overlap_seconds: float
    ) -> tuple[SubscriptionDocument, str]:
        """A new secret (returned once); the current one keeps signing for ``overlap_seconds``."""
        doc = self.get(tenant_id, subscription_id)
        secret = new_secret()
        now = self._clock()
        sealed = self._box.seal(
            {"current": secret, "previous": self._box.open(doc["sealed_secrets"])["current"]}
        )
        update = {
            "sealed_secrets": sealed,
            "previous_expires_at": now + timedelta(seconds=overlap_seconds),
            "updated_at": now,
        }
        if not update_by_id(
            self._collection, subscription_id, {"tenant_id": tenant_id}, {"$set": update}
        ):
            raise NotFound(f"webhook subscription {subscription_id} not found")
        return {**doc, **update}, secret

    def signing_secrets(self, doc: SubscriptionDocument) -> list[str]:
        """The secrets a delivery is signed with now: the current one, then the previous one
        while its overlap lasts."""
        opened = self._box.open(doc["sealed_secrets"])
        until = doc.get("previous_expires_at")
        keep_previous = "previous" in opened and until and as_utc(until) > self._clock()
        return [opened["current"], opened["previous"]] if keep_previous else [opened["current"]]

    def matching(self, tenant_id: str, event_type: str) -> list[SubscriptionDocument]:
        """The tenant's active subscriptions with a pattern that matches ``event_type``."""
        found = self._collection.find({"tenant_id": tenant_id, "status": ACTIVE})
        return [doc for doc in found if any(matches(p, event_type) for p in doc["events"])]

    def succeeded(self, doc: SubscriptionDocument) -> None:
        """The endpoint answered 2xx: it is no longer failing (a write only if it was)."""
        if doc.get("failing_since") is not None:
            conditions = {"tenant_id": doc["tenant_id"]}
            update = {"$set": {"failing_since": None, "updated_at": self._clock()}}
            update_by_id(self._collection, doc["_id"], conditions, update)

    def failed(self, doc: SubscriptionDocument, at: datetime) -> datetime:
        """The endpoint failed an attempt at ``at``: when its run of failures began."""
        since = doc.get("failing_since")
        if since is not None:
            return as_utc(since)
        conditions = {"tenant_id": doc["tenant_id"], "failing_since": None}
        update_by_id(self._collection, doc["_id"], conditions, {"$set": {"failing_since": at}})
        return at

    def disable(self, doc: SubscriptionDocument, reason: str) -> bool:
        """Stop deliveries to the endpoint; True if this call disabled it."""
        now = self._clock()
        update = {
            "$set": {
                "status": DISABLED,
                "disabled_reason": reason,
                "disabled_at": now,
                "updated_at": now,
            }
        }
        conditions = {"tenant_id": doc["tenant_id"], "status": ACTIVE}
        return update_by_id(self._collection, doc["_id"], conditions, update)

    # Last: below it, ``list`` in an annotation would name this method.
    def list(self, tenant_id: str) -> list[SubscriptionDocument]:
        return list(self._collection.find({"tenant_id": tenant_id}).sort("_id", ASCENDING))
