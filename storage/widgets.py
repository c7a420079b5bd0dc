"""Web chat widget configs (``docs/widget-protocol.md``): a tenant's chat on its sites.

A widget's id is public (it is written in the embed tag), so the lookup a browser's request
starts with takes the id alone and the tenant comes from the stored document, never from the
caller. The identity-verification secret is sealed at rest and never leaves this module but to
check a signature. The fields are validated by the admin routes (``ingress.widgets_admin``).
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database

from core.crypto import SecretBox
from core.errors import NotFound
from core.ids import new_id
from core.timeutil import utcnow
from storage.by_id import find_by_id

WidgetDocument = dict[str, Any]
ID_PREFIX = "wgt"
# The fields an operator sets (besides the write-only identity secret).
FIELDS = ("name", "enabled", "allowed_origins", "theme", "greeting", "upload")
_SECRET = "identity_secret"  # noqa: S105 (the sealed dict's key, not a secret)
# A widget's upload limits unless its config says otherwise (docs/widget-protocol.md).
UPLOAD_MAX_BYTES = 5 * 1024 * 1024
UPLOAD_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")


class WidgetRepository:
    def __init__(self, db: Database[Any], box: SecretBox) -> None:
        self._collection: Collection[WidgetDocument] = db["widgets"]
        self._box = box

    def find(self, widget_id: str) -> WidgetDocument | None:
        """The widget a public id names, whoever's it is; None when there is none."""
        return self._collection.find_one({"_id": widget_id})

    def ensure(
        self,
        widget_id: str,
        tenant_id: str,
        *,
        allowed_origins: list[str],
        title: str,
        greeting: str,
        primary_color: str = "#2f6feb",
    ) -> None:
        """Create the widget if it is missing (the demo's, a test's); its origins are set anew,
        so a platform started on another port keeps its page allowed."""
        self._collection.update_one(
            {"_id": widget_id},
            {
                "$set": {"allowed_origins": allowed_origins, "enabled": True},
                "$setOnInsert": {
                    "tenant_id": tenant_id,
                    "name": title,
                    "theme": {"title": title, "primary_color": primary_color, "locale": "en"},
                    "greeting": greeting,
                    "upload": {"max_bytes": UPLOAD_MAX_BYTES, "types": list(UPLOAD_TYPES)},
                    "created_at": utcnow(),
                },
            },
            upsert=True,
        )

    def create(
        self, tenant_id: str, fields: dict[str, Any], identity_secret: str | None
    ) -> WidgetDocument:
        now = utcnow()
        doc: WidgetDocument = {
            "_id": new_id(ID_PREFIX),
            "tenant_id": tenant_id,
            **{k: v for k, v in fields.items() if k in FIELDS},
            "created_at": now,
            "updated_at": now,
        }
        if identity_secret is not None:
            doc["sealed_identity_secret"] = self._box.seal({_SECRET: identity_secret})
        self._collection.insert_one(doc)
        return doc

    def list(self, tenant_id: str, after: str | None, limit: int) -> list[WidgetDocument]:
        """Up to ``limit`` of the tenant's widgets after the id ``after``, in id order."""
        query: dict[str, Any] = {"tenant_id": tenant_id}
        if after is not None:
            query["_id"] = {"$gt": after}
        return list(self._collection.find(query).sort("_id", ASCENDING).limit(limit))

    def get(self, tenant_id: str, widget_id: str) -> WidgetDocument:
        """The tenant's widget; another tenant's answers as one that does not exist."""
        doc = find_by_id(self._collection, widget_id, {"tenant_id": tenant_id})
        if doc is None:
            raise NotFound(f"widget {widget_id} not found")
        return doc

    def update(
        self,
        tenant_id: str,
        widget_id: str,
        fields: dict[str, Any],
        identity_secret: str | None,
        *,
        remove_identity_secret: bool = False,
    ) -> WidgetDocument:
        """Sets the fields given (each whole, as the caller merged it) and, when given, a new
        identity secret; ``remove_identity_secret`` switches identity verification off."""
        self.get(tenant_id, widget_id)
        changes: dict[str, Any] = {k: v for k, v in fields.items() if k in FIELDS}
        update: dict[str, Any] = {"$set": {**changes, "updated_at": utcnow()}}
        if identity_secret is not None:
            update["$set"]["sealed_identity_secret"] = self._box.seal({_SECRET: identity_secret})
        elif remove_identity_secret:
            update["$unset"] = {"sealed_identity_secret": ""}
        self._collection.update_one({"_id": widget_id}, update)
        return self.get(tenant_id, widget_id)

    def identity_secret(self, doc: WidgetDocument) -> bytes | None:
        """The secret the tenant's backend signs user ids with; None when it has none."""
        sealed = doc.get("sealed_identity_secret")
        return self._box.open(sealed)[_SECRET].encode() if sealed else None

    def origin_served(self, origin: str) -> bool:
        """Whether some widget allows ``origin``: a CORS preflight carries no token, so it
        cannot tell which widget its request is for (across tenants; the answer is a flag)."""
        return self._collection.find_one({"allowed_origins": origin}, {"_id": 1}) is not None


def identity_verification(doc: WidgetDocument) -> bool:
    return bool(doc.get("sealed_identity_secret"))
