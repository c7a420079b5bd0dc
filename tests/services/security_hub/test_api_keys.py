"""API keys are shown once, stored as a hash, listed without secrets, revoked and rotated."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from pymongo.database import Database

from core.errors import NotFound
from storage.credentials import ApiKeyRepository


def test_an_issued_key_names_its_id_and_verifies_to_its_tenant_and_scopes(
    keys: ApiKeyRepository, tenant: str
) -> None:
    doc, plaintext = keys.issue(tenant, "ci", ["messages:write", "messages:read"])

    assert plaintext.startswith(f"pk_{doc['_id']}_")
    verified = keys.verify(plaintext)
    assert verified is not None
    assert (verified["_id"], verified["tenant_id"], verified["name"]) == (doc["_id"], tenant, "ci")
    assert verified["scopes"] == ["messages:read", "messages:write"]
    assert verified["state"] == "active"


def test_only_a_hash_of_the_secret_is_stored(
    keys: ApiKeyRepository, db: Database[Any], tenant: str
) -> None:
    doc, plaintext = keys.issue(tenant, "ci", ["admin"])
    secret = plaintext.removeprefix(f"pk_{doc['_id']}_")

    stored = db["api_keys"].find_one({"_id": doc["_id"]})

    assert stored is not None
    assert stored["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(stored)
    assert "secret_sha256" not in doc


def test_a_listed_key_carries_neither_its_hash_nor_its_secret(
    keys: ApiKeyRepository, tenant: str
) -> None:
    first, first_plaintext = keys.issue(tenant, "first", ["messages:read"])
    second, second_plaintext = keys.issue(tenant, "second", ["admin"])
    keys.issue("other_" + tenant, "theirs", ["admin"])

    listed = keys.list(tenant)

    assert [key["_id"] for key in listed] == [first["_id"], second["_id"]]
    for key, plaintext in zip(listed, [first_plaintext, second_plaintext], strict=True):
        assert "secret_sha256" not in key
        assert plaintext.removeprefix(f"pk_{key['_id']}_") not in str(key)
        assert set(key) == {"_id", "tenant_id", "name", "scopes", "state", "created_at"}


def test_a_key_with_a_wrong_secret_or_unknown_id_is_unknown(
    keys: ApiKeyRepository, tenant: str
) -> None:
    doc, plaintext = keys.issue(tenant, "ci", ["admin"])
    wrong_secret = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    unknown_id = plaintext.replace(doc["_id"], "key_" + "0" * 32)

    assert keys.check(wrong_secret).reason == "unknown_key"
    assert keys.check(unknown_id).reason == "unknown_key"
    assert keys.verify(wrong_secret) is None


@pytest.mark.parametrize("token", ["", "pk_", "pk_key_123_abc", "not-a-key", "pk_key_x_y_z"])
def test_a_string_that_is_not_shaped_like_a_key_is_malformed(
    keys: ApiKeyRepository, token: str
) -> None:
    assert keys.check(token).reason == "malformed"


def test_a_revoked_key_no_longer_verifies(keys: ApiKeyRepository, tenant: str) -> None:
    doc, plaintext = keys.issue(tenant, "ci", ["admin"])

    assert keys.revoke(tenant, doc["_id"]) is True

    assert keys.verify(plaintext) is None
    assert keys.check(plaintext).reason == "revoked"
    assert keys.revoke(tenant, doc["_id"]) is False
    revoked = keys.get(tenant, doc["_id"])
    assert revoked is not None
    assert revoked["state"] == "revoked"


def test_another_tenant_cannot_revoke_or_see_a_key(keys: ApiKeyRepository, tenant: str) -> None:
    doc, plaintext = keys.issue(tenant, "ci", ["admin"])
    intruder = "other_" + tenant

    assert keys.revoke(intruder, doc["_id"]) is False
    assert keys.get(intruder, doc["_id"]) is None
    with pytest.raises(NotFound):
        keys.rotate(intruder, doc["_id"])
    assert keys.verify(plaintext) is not None


def test_a_rotated_key_is_replaced_by_a_new_one_with_the_same_name_and_scopes(
    keys: ApiKeyRepository, tenant: str
) -> None:
    old, old_plaintext = keys.issue(tenant, "ci", ["messages:write"])

    new, new_plaintext = keys.rotate(tenant, old["_id"])

    assert new["_id"] != old["_id"]
    assert (new["name"], new["scopes"], new["rotated_from"]) == (
        "ci",
        ["messages:write"],
        old["_id"],
    )
    assert keys.check(old_plaintext).reason == "revoked"
    assert keys.verify(new_plaintext) is not None
    replaced = keys.get(tenant, old["_id"])
    assert replaced is not None
    assert replaced["replaced_by"] == new["_id"]


def test_a_revoked_key_cannot_be_rotated(keys: ApiKeyRepository, tenant: str) -> None:
    doc, _ = keys.issue(tenant, "ci", ["admin"])
    keys.revoke(tenant, doc["_id"])

    with pytest.raises(NotFound):
        keys.rotate(tenant, doc["_id"])

    assert [key["_id"] for key in keys.list(tenant)] == [doc["_id"]]


def test_the_tenant_leading_key_index_is_declared(db: Database[Any]) -> None:
    indexes = {index["name"]: index["key"] for index in db["api_keys"].list_indexes()}

    assert list(indexes["tenant_keys"]) == ["tenant_id", "_id"]
