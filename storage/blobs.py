"""Files kept for a tenant (inbound media), in GridFS: one bucket, ``blobs``, MongoDB or FerretDB.

A blob belongs to one tenant (``metadata.tenant_id``); a read names the tenant, and another's
blob answers as one that does not exist. The tenant's ``retention_days`` applies to blobs as to
messages (``storage/retention.py`` calls ``delete_older_than``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import gridfs
from pymongo.database import Database

from core.errors import NotFound
from core.ids import new_id
from core.timeutil import utcnow

BUCKET = "blobs"


@dataclass(frozen=True)
class Blob:
    id: str
    tenant_id: str
    filename: str
    mime_type: str
    size: int
    data: bytes


class BlobStore:
    def __init__(self, db: Database[Any]) -> None:
        self._bucket = gridfs.GridFSBucket(db, bucket_name=BUCKET)
        self._files = db[f"{BUCKET}.files"]

    def put(self, tenant_id: str, data: bytes, mime_type: str, filename: str) -> str:
        """Keep ``data`` for the tenant; the new blob's id."""
        blob_id = new_id("blob")
        metadata = {"tenant_id": tenant_id, "mime_type": mime_type, "created_at": utcnow()}
        self._bucket.upload_from_stream_with_id(blob_id, filename, data, metadata=metadata)
        return blob_id

    def get(self, tenant_id: str, blob_id: str) -> Blob:
        """The tenant's blob; anyone else's is NotFound."""
        found = self._files.find_one({"_id": blob_id, "metadata.tenant_id": tenant_id})
        if found is None:
            raise NotFound(f"blob {blob_id} not found")
        with self._bucket.open_download_stream(blob_id) as stream:
            data = stream.read()
        return Blob(
            blob_id, tenant_id, found["filename"], found["metadata"]["mime_type"], len(data), data
        )

    def find(self, tenant_id: str, blob_id: str) -> Blob | None:
        """The tenant's blob, or None."""
        try:
            return self.get(tenant_id, blob_id)
        except NotFound:
            return None

    def delete(self, tenant_id: str, blob_id: str) -> int:
        """Delete the tenant's blob (file and chunks); 1 if it went, 0 if it was not there."""
        if (
            self._files.find_one({"_id": blob_id, "metadata.tenant_id": tenant_id}, {"_id": 1})
            is None
        ):
            return 0
        try:
            self._bucket.delete(blob_id)
        except gridfs.errors.NoFile:
            return 0  # another delete took it first
        return 1

    def count(self, tenant_id: str) -> int:
        return self._files.count_documents({"metadata.tenant_id": tenant_id})

    def delete_older_than(self, tenant_id: str, cutoff: datetime) -> int:
        """Delete the tenant's blobs kept before ``cutoff`` (file and chunks); how many went."""
        old = self._files.find(
            {"metadata.tenant_id": tenant_id, "uploadDate": {"$lt": cutoff}}, {"_id": 1}
        )
        deleted = 0
        for doc in old:
            try:
                self._bucket.delete(doc["_id"])
            except gridfs.errors.NoFile:
                continue  # another sweep took it first
            deleted += 1
        return deleted
