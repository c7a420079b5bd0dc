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

WidgetDocument = dict[str, Any]


class WidgetRepository:
    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[WidgetDocument] = db["widgets"]

    def find(self, widget_id: str) -> WidgetDocument | None:
        """The widget a public id names, whoever's it is; None when there is none."""
        return self._collection.find_one({"_id": widget_id})
