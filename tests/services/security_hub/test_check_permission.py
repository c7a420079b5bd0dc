"""A running hub grants a permission to an API key whose scopes name it or ``admin``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.errors import PermanentError
from protos import security_hub_pb2 as pb
from protos import security_hub_pb2_grpc
from protos.security_hub_client import SecurityHubClient
from storage.credentials import ApiKeyRepository

TIMEOUT = 5.0
Stub = security_hub_pb2_grpc.SecurityHubStub


def answer(stub: Stub, tenant_id: str, subject: str, permission: str) -> tuple[bool, str]:
    request = pb.CheckPermissionRequest(
        tenant_id=tenant_id, subject=subject, permission=permission, resource="conversations/c-1"
    )
    response = stub.CheckPermission(request, timeout=TIMEOUT)
    return response.allowed, response.reason


def test_a_key_may_do_what_its_scopes_name_and_nothing_else(
    client: SecurityHubClient, stub: Stub, keys: ApiKeyRepository, tenant: str
) -> None:
    doc, _ = keys.issue(tenant, "reader", ["messages:read"])

    assert client.check_permission(tenant, doc["_id"], "messages:read", "", TIMEOUT) is True
    assert client.check_permission(tenant, doc["_id"], "messages:write", "", TIMEOUT) is False
    assert answer(stub, tenant, doc["_id"], "messages:write") == (False, "missing_scope")


def test_an_admin_key_may_do_anything_in_its_tenant(
    client: SecurityHubClient, keys: ApiKeyRepository, tenant: str
) -> None:
    doc, _ = keys.issue(tenant, "ops", ["admin"])

    assert client.check_permission(tenant, doc["_id"], "channels:write", "", TIMEOUT) is True


def test_a_key_has_no_permission_in_another_tenant(
    stub: Stub, keys: ApiKeyRepository, tenant: str
) -> None:
    doc, _ = keys.issue(tenant, "ops", ["admin"])

    assert answer(stub, "other_" + tenant, doc["_id"], "messages:read") == (
        False,
        "unknown_subject",
    )


def test_a_jwt_subject_is_unknown_to_the_hub(stub: Stub, tenant: str) -> None:
    assert answer(stub, tenant, "user-1", "messages:read") == (False, "unknown_subject")


def test_a_revoked_key_has_no_permission(stub: Stub, keys: ApiKeyRepository, tenant: str) -> None:
    doc, _ = keys.issue(tenant, "ops", ["admin"])
    keys.revoke(tenant, doc["_id"])

    assert answer(stub, tenant, doc["_id"], "messages:read") == (False, "revoked")


def test_a_disabled_tenants_key_has_no_permission(
    stub: Stub, keys: ApiKeyRepository, disable: Callable[[str], None], tenant: str
) -> None:
    doc, _ = keys.issue(tenant, "ops", ["admin"])
    disable(tenant)

    assert answer(stub, tenant, doc["_id"], "messages:read") == (False, "tenant_disabled")


def test_a_question_without_a_subject_is_a_permanent_error(
    client: SecurityHubClient, tenant: str
) -> None:
    with pytest.raises(PermanentError, match="CheckPermission failed: INVALID_ARGUMENT"):
        client.check_permission(tenant, "", "messages:read", "", TIMEOUT)
