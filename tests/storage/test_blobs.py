"""Blobs are kept in GridFS per tenant, read back whole, and go with the tenant's retention."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from pymongo.database import Database

from core.errors import NotFound
from core.timeutil import utcnow
from storage.blobs import BUCKET, BlobStore
from tasks.maintenance import apply_retention


def test_a_blob_larger_than_a_chunk_comes_back_whole(db: Database[Any], tenant: str) -> None:
    blobs = BlobStore(db)
    data = os.urandom(700 * 1024)  # GridFS chunks are 255 KiB: three chunks

    blob_id = blobs.put(tenant, data, "image/png", "photo.png")

    blob = blobs.get(tenant, blob_id)
    assert (blob.data, blob.mime_type, blob.filename, blob.size) == (
        data,
        "image/png",
        "photo.png",
        len(data),
    )
    assert db[f"{BUCKET}.chunks"].count_documents({"files_id": blob_id}) == 3


def test_another_tenants_blob_does_not_exist(db: Database[Any], tenant: str) -> None:
    blobs = BlobStore(db)
    blob_id = blobs.put(tenant, b"%PDF-1.4 ...", "application/pdf", "a.pdf")
    with pytest.raises(NotFound):
        blobs.get(tenant + "_other", blob_id)


def test_retention_deletes_a_tenants_old_blobs_with_their_chunks(
    db: Database[Any], tenant: str
) -> None:
    blobs = BlobStore(db)
    other = tenant + "_other"
    db["tenants"].insert_one({"_id": tenant, "name": "T", "state": "active", "retention_days": 7})
    old = blobs.put(tenant, b"old" * 100, "image/jpeg", "old.jpg")
    recent = blobs.put(tenant, b"new" * 100, "image/jpeg", "new.jpg")
    others = blobs.put(other, b"theirs" * 100, "image/jpeg", "theirs.jpg")
    eight_days_ago = utcnow() - timedelta(days=8)
    files = db[f"{BUCKET}.files"]
    files.update_many({"_id": {"$in": [old, others]}}, {"$set": {"uploadDate": eight_days_ago}})

    apply_retention()

    assert {doc["_id"] for doc in files.find({"metadata.tenant_id": {"$in": [tenant, other]}})} == {
        recent,
        others,
    }
    assert db[f"{BUCKET}.chunks"].count_documents({"files_id": old}) == 0
    assert blobs.get(tenant, recent).data == b"new" * 100
