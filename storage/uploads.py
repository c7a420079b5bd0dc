"""Files web visitors upload (``POST /v1/widget/uploads``): kept whole in one document each.

An upload belongs to one tenant, widget and visitor; a read names all three, and a document of
another's answers as one that does not exist. Sizes are bounded by the widget's ``upload``
limits (at most 10 MiB), well inside a document's 16 MiB.
"""

from __future__ import annotations

from typing import Any, TypedDict

from bson import Binary
from pymongo.collection import Collection
from pymongo.database import Database

from core.errors import NotFound
from core.ids import new_id
from core.timeutil import utcnow
from storage.by_id import find_by_id


class Upload(TypedDict):
    _id: str
    tenant_id: str
    widget_id: str
    visitor_id: str
    content_type: str
    filename: str
    size: int
    data: bytes


class UploadRepository:
    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[Any] = db["uploads"]

    def create(
        self,
        tenant_id: str,
        widget_id: str,
        visitor_id: str,
        content_type: str,
        filename: str,
        data: bytes,
    ) -> Upload:
        upload: Upload = {
            "_id": new_id("upl"),
            "tenant_id": tenant_id,
            "widget_id": widget_id,
            "visitor_id": visitor_id,
            "content_type": content_type,
            "filename": filename,
            "size": len(data),
            "data": data,
        }
        self._collection.insert_one({**upload, "data": Binary(data), "created_at": utcnow()})
        return upload

    def get(self, tenant_id: str, widget_id: str, visitor_id: str, upload_id: str) -> Upload:
        """The visitor's own upload; anyone else's is NotFound."""
        owner = {"tenant_id": tenant_id, "widget_id": widget_id, "visitor_id": visitor_id}
        doc = find_by_id(self._collection, upload_id, owner)
        if doc is None:
            raise NotFound(f"upload {upload_id} not found")
        return Upload(
            _id=doc["_id"],
            tenant_id=tenant_id,
            widget_id=widget_id,
            visitor_id=visitor_id,
            content_type=doc["content_type"],
            filename=doc["filename"],
            size=int(doc["size"]),
            data=bytes(doc["data"]),
        )

    def attachments(
        self, tenant_id: str, widget_id: str, visitor_id: str, upload_ids: list[str]
    ) -> list[dict[str, Any]]:
        """The named uploads as a message keeps them (no data), in the order given; an id that
        is not this visitor's on this widget is NotFound."""
        if not upload_ids:
            return []
        fields = {"content_type": 1, "filename": 1, "size": 1}
        query = {
            "_id": {"$in": upload_ids},
            "tenant_id": tenant_id,
            "widget_id": widget_id,
            "visitor_id": visitor_id,
        }
        found = {doc["_id"]: doc for doc in self._collection.find(query, fields)}
        missing = [each for each in upload_ids if each not in found]
        if missing:
            raise NotFound(f"no upload {missing[0]} of this visitor")
        return [
            {
                "upload_id": each,
                "content_type": found[each]["content_type"],
                "filename": found[each]["filename"],
                "size": found[each]["size"],
            }
            for each in upload_ids
        ]
