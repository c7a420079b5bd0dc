"""Erasure receipts: the proof that one end user's data was erased, kept after the data is gone.

A receipt never names the user: it keeps a keyed digest of (tenant, user id), so the operator
holding the user id can find the receipt again (``GET /v1/privacy/erasures?user_id=…``) while
the receipt alone reveals nothing. It records who asked (the credential's kind and id, never the
credential), what each store gave up, the conversations erased (opaque ids) and how many Kafka
tombstones were acknowledged.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from pymongo import DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database

from core.errors import NotFound
from core.ids import new_id
from core.timeutil import utcnow
from storage.by_id import find_by_id

COLLECTION = "erasures"


def subject_digest(secret: bytes, tenant_id: str, user_id: str) -> str:
    return hmac.new(secret, f"{tenant_id}\x1f{user_id}".encode(), hashlib.sha256).hexdigest()


class ErasureReceipts:
    def __init__(self, db: Database[Any], secret: bytes) -> None:
        self._collection: Collection[Any] = db[COLLECTION]
        # A key of its own, derived from the master key: a digest is no use against channel secrets.
        self._secret = hashlib.sha256(b"parley erasure subject\x00" + secret).digest()

    def record(
        self,
        tenant_id: str,
        user_id: str,
        requested_by: dict[str, str],
        conversations: list[str],
        erased: dict[str, int],
        tombstones: dict[str, int],
    ) -> dict[str, Any]:
        receipt = {
            "_id": new_id("era"),
            "tenant_id": tenant_id,
            "subject": subject_digest(self._secret, tenant_id, user_id),
            "requested_by": requested_by,
            "conversations": conversations,
            "erased": erased,
            "tombstones": tombstones,
            "created_at": utcnow(),
        }
        self._collection.insert_one(receipt)
        return receipt

    def get(self, tenant_id: str, receipt_id: str) -> dict[str, Any]:
        found = find_by_id(self._collection, receipt_id, {"tenant_id": tenant_id})
        if found is None:
            raise NotFound(f"erasure {receipt_id} not found")
        return dict(found)

    def of_user(self, tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        digest = subject_digest(self._secret, tenant_id, user_id)
        found = self._collection.find({"tenant_id": tenant_id, "subject": digest})
        return list(found.sort("_id", DESCENDING))
