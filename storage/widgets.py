"""Web chat widget configs (``docs/widget-protocol.md``): a tenant's chat on its sites.

A widget's id is public (it is written in the embed tag), so the lookup a browser's request
starts with takes the id alone and the tenant comes from the stored document, never from the
caller. The identity-verification secret is sealed at rest and never leaves this module but to
check a signature.
"""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from core.timeutil import utcnow

WidgetDocument = dict[str, Any]
# A widget's upload limits unless its config says otherwise (docs/widget-protocol.md).
UPLOAD_MAX_BYTES = 5 * 1024 * 1024
UPLOAD_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")


class WidgetRepository:
    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[WidgetDocument] = db["widgets"]

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
