"""Tenants' API keys: issued once as plaintext, stored only as a hash, revocable and rotatable.

A key reads ``pk_<key id>_<secret>``. The key id is the document's ``_id`` and is not secret (it
is the key's name in lists, logs and the Security Hub's ``subject``); the secret is shown once,
when the key is issued, and never again.

A rotation is claimed in ``api_key_rotations`` (``storage.claims``: a unique-``_id`` insert, which
FerretDB v1 makes atomic where it does not a conditional update), so of two concurrent rotations
of one key exactly one issues a successor; the other is a ``Conflict``. A rotation that died
half-way leaves a claim that expires after ``ROTATION_CLAIM_SECONDS``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from core.errors import Conflict, NotFound
from core.ids import new_id
from core.timeutil import utcnow
from storage.by_id import update_by_id
from storage.claims import Claims

KeyDocument = dict[str, Any]

KEY_PREFIX = "pk_"
SECRET_BYTES = 32
# new_id("key") is "key_" + 32 hex digits; token_urlsafe(32) is 43 url-safe base64 characters.
_KEY_FORMAT = re.compile(r"pk_(key_[0-9a-f]{32})_([A-Za-z0-9_-]{43})")
# What no reader outside this module ever sees.
_HASH_FIELD = "secret_sha256"
# A rotation is a few writes; a claim this old belongs to a rotation that died.
ROTATION_CLAIM_SECONDS = 60.0


def _hash(secret: str) -> str:
    # A plain SHA-256 is enough here: the secret is 256 random bits, so there is nothing to
    # guess from a leaked hash, and a slow password KDF would only add latency to every request.
    return hashlib.sha256(secret.encode()).hexdigest()


def _public(doc: KeyDocument) -> KeyDocument:
    return {name: value for name, value in doc.items() if name != _HASH_FIELD}


def presented_key_id(plaintext: str) -> str | None:
    """The key id a plaintext in the key format names (nothing is looked up), else None."""
    match = _KEY_FORMAT.fullmatch(plaintext)
    return match.group(1) if match else None


@dataclass(frozen=True)
class KeyCheck:
    """The outcome of checking a plaintext key: the key's public view, or why it was refused."""

    key: KeyDocument | None
    reason: str  # "" when ``key`` is set; else "malformed", "unknown_key" or "revoked"
    # The tenant of the key the plaintext names, when it names one that exists: a refusal is
    # counted against that tenant's audit trail (never shown to the caller).
    tenant_id: str | None = None


class ApiKeyRepository:
    def __init__(self, db: Database[Any], clock: Callable[[], datetime] = utcnow) -> None:
        self._collection: Collection[Any] = db["api_keys"]
        self._rotations = Claims(db["api_key_rotations"], ROTATION_CLAIM_SECONDS, clock)

    def issue(
        self, tenant_id: str, name: str, scopes: list[str], *, rotated_from: str | None = None
    ) -> tuple[KeyDocument, str]:
        """A new active key: its public view and the plaintext, which is never available again."""
        key_id = new_id("key")
        secret = secrets.token_urlsafe(SECRET_BYTES)
        doc: KeyDocument = {
            "_id": key_id,
            "tenant_id": tenant_id,
            "name": name,
            "scopes": sorted(set(scopes)),
            _HASH_FIELD: _hash(secret),
            "state": "active",
            "created_at": utcnow(),
        }
        if rotated_from is not None:
            doc["rotated_from"] = rotated_from
        self._collection.insert_one(doc)
        return _public(doc), f"{KEY_PREFIX}{key_id}_{secret}"

    def check(self, plaintext: str) -> KeyCheck:
        """Checks a plaintext key against its stored hash; whether its tenant is enabled is the
        caller's question."""
        match = _KEY_FORMAT.fullmatch(plaintext)
        if match is None:
            return KeyCheck(None, "malformed")
        key_id, secret = match.groups()
        doc: KeyDocument | None = self._collection.find_one({"_id": key_id})
        if doc is None:
            return KeyCheck(None, "unknown_key")
        if not hmac.compare_digest(_hash(secret), str(doc.get(_HASH_FIELD, ""))):
            return KeyCheck(None, "unknown_key", doc["tenant_id"])
        # Only the holder of the right secret learns that a key was revoked.
        if doc.get("state") != "active":
            return KeyCheck(None, "revoked", doc["tenant_id"])
        return KeyCheck(_public(doc), "")

    def verify(self, plaintext: str) -> KeyDocument | None:
        """The public view of the active key ``plaintext`` names and proves, else None."""
        return self.check(plaintext).key

    def get(self, tenant_id: str, key_id: str) -> KeyDocument | None:
        """One of the tenant's keys, active or revoked, without its hash."""
        doc: KeyDocument | None = self._collection.find_one(
            {"_id": key_id, "tenant_id": tenant_id}, projection={_HASH_FIELD: False}
        )
        return doc

    def list(self, tenant_id: str) -> list[KeyDocument]:
        """The tenant's keys, oldest first, revoked ones included, without their hashes."""
        found = self._collection.find({"tenant_id": tenant_id}, projection={_HASH_FIELD: False})
        return list(found.sort("_id", 1))

    def revoke(self, tenant_id: str, key_id: str) -> bool:
        """Revokes an active key; False if the tenant has no such active key."""
        result = self._collection.update_one(
            {"_id": key_id, "tenant_id": tenant_id, "state": "active"},
            {"$set": {"state": "revoked", "revoked_at": utcnow()}},
        )
        return result.modified_count == 1

    def rotate(self, tenant_id: str, key_id: str) -> tuple[KeyDocument, str]:
        """A new key with the old one's name and scopes; the old one is revoked.

        The new key exists before the old one is revoked, so the tenant is never without a key.
        Of two concurrent rotations one wins and the other raises ``Conflict``, as does rotating
        a key that was rotated already; a revoked or unknown key is ``NotFound``.
        """
        self._require_rotatable(tenant_id, key_id)
        claim = self._rotations.take(key_id, tenant_id)
        if claim is None:
            raise Conflict(f"api key {key_id} is being rotated")
        try:
            # Holding the claim we are the only rotation; the key may have changed since the read.
            old = self._require_rotatable(tenant_id, key_id)
            new, plaintext = self.issue(tenant_id, old["name"], old["scopes"], rotated_from=key_id)
            revoked = update_by_id(
                self._collection,
                key_id,
                {"tenant_id": tenant_id, "state": "active"},
                {"$set": {"state": "revoked", "revoked_at": utcnow(), "replaced_by": new["_id"]}},
            )
            if not revoked:  # revoked meanwhile: there is nothing left to rotate
                self._collection.delete_one({"_id": new["_id"]})
                raise NotFound(f"api key {key_id} not found")
        finally:
            self._rotations.release(claim)
        return new, plaintext

    def _require_rotatable(self, tenant_id: str, key_id: str) -> KeyDocument:
        doc = self.get(tenant_id, key_id)
        if doc is not None and doc.get("state") == "active":
            return doc
        if doc is not None and "replaced_by" in doc:
            raise Conflict(f"api key {key_id} was rotated already")
        raise NotFound(f"api key {key_id} not found")
