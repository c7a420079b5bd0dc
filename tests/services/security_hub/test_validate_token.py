"""A running hub accepts live API keys and Parley JWTs and refuses all else, saying why."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import jwt
import pytest

from core.settings import Settings
from core.tokens import mint_token
from protos import security_hub_pb2 as pb
from protos import security_hub_pb2_grpc
from protos.security_hub_client import SecurityHubClient, TokenInfo
from storage.credentials import ApiKeyRepository
from storage.tenants import TenantRepository
from tests.credentials import key_secret

TIMEOUT = 5.0
Stub = security_hub_pb2_grpc.SecurityHubStub


def refusal(stub: Stub, token: str) -> str:
    response = stub.ValidateToken(pb.ValidateTokenRequest(token=token), timeout=TIMEOUT)
    assert not response.valid
    assert (response.tenant_id, response.subject, list(response.scopes)) == ("", "", [])
    return response.reason


def test_a_live_api_key_is_valid_for_its_tenant_with_its_scopes(
    client: SecurityHubClient, keys: ApiKeyRepository, tenant: str
) -> None:
    doc, plaintext = keys.issue(tenant, "ci", ["messages:write", "messages:read"])

    info = client.validate_token(plaintext, TIMEOUT)

    assert info == TokenInfo(
        tenant_id=tenant,
        subject=doc["_id"],
        scopes=frozenset({"messages:write", "messages:read"}),
        expires_at=0,
    )


def test_a_revoked_key_is_refused_without_restarting_the_hub(
    client: SecurityHubClient, stub: Stub, keys: ApiKeyRepository, tenant: str
) -> None:
    doc, plaintext = keys.issue(tenant, "ci", ["admin"])
    assert client.validate_token(plaintext, TIMEOUT) is not None

    keys.revoke(tenant, doc["_id"])

    assert client.validate_token(plaintext, TIMEOUT) is None
    assert refusal(stub, plaintext) == "revoked"


def test_after_a_rotation_the_old_key_is_refused_and_the_new_one_accepted(
    client: SecurityHubClient, keys: ApiKeyRepository, tenant: str
) -> None:
    old, old_plaintext = keys.issue(tenant, "ci", ["messages:write"])
    assert client.validate_token(old_plaintext, TIMEOUT) is not None

    new, new_plaintext = keys.rotate(tenant, old["_id"])

    assert client.validate_token(old_plaintext, TIMEOUT) is None
    info = client.validate_token(new_plaintext, TIMEOUT)
    assert info is not None
    assert (info.subject, info.scopes) == (new["_id"], frozenset({"messages:write"}))


def test_an_unknown_or_misshapen_key_is_refused_with_its_reason(
    stub: Stub, keys: ApiKeyRepository, tenant: str
) -> None:
    doc, plaintext = keys.issue(tenant, "ci", ["admin"])

    assert refusal(stub, plaintext.replace(doc["_id"], "key_" + "f" * 32)) == "unknown_key"
    assert refusal(stub, "pk_nonsense") == "malformed"
    assert refusal(stub, "") == "malformed"


def test_a_parley_jwt_is_valid_with_its_claims_and_scopes(
    client: SecurityHubClient, settings: Settings, tenant: str
) -> None:
    expires_at = int(time.time()) + 600
    token = jwt.encode(
        {"tenant": tenant, "sub": "user-1", "exp": expires_at, "scope": "messages:read admin"},
        settings.require_jwt_secret(),
        algorithm="HS256",
    )

    info = client.validate_token(token, TIMEOUT)

    assert info == TokenInfo(tenant, "user-1", frozenset({"messages:read", "admin"}), expires_at)


def test_a_jwt_without_a_scope_claim_is_reported_as_claiming_none(
    client: SecurityHubClient, stub: Stub, settings: Settings, tenant: str
) -> None:
    token = mint_token(settings.require_jwt_secret(), tenant, "user-1", ttl_seconds=600)

    info = client.validate_token(token, TIMEOUT)

    assert info is not None
    assert (info.tenant_id, info.subject, info.scopes) == (tenant, "user-1", None)
    response = stub.ValidateToken(pb.ValidateTokenRequest(token=token), timeout=TIMEOUT)
    assert (list(response.scopes), response.scope_claim_absent) == ([], True)


def test_a_jwt_with_an_empty_scope_claim_has_no_scopes(
    client: SecurityHubClient, settings: Settings, tenant: str
) -> None:
    token = mint_token(settings.require_jwt_secret(), tenant, "user-1", 600, scopes=[])

    info = client.validate_token(token, TIMEOUT)

    assert info is not None and info.scopes == frozenset()


def test_a_jwt_reports_its_token_id_and_a_key_none(
    client: SecurityHubClient, keys: ApiKeyRepository, settings: Settings, tenant: str
) -> None:
    token = mint_token(settings.require_jwt_secret(), tenant, "u", 600, token_id="jti_1")
    _, plaintext = keys.issue(tenant, "ci", ["admin"])

    jwt_info, key_info = (client.validate_token(t, TIMEOUT) for t in (token, plaintext))

    assert jwt_info is not None and jwt_info.token_id == "jti_1"
    assert key_info is not None and (key_info.token_id, key_info.scopes) == (
        None,
        frozenset({"admin"}),
    )


def test_an_expired_jwt_is_refused_as_expired(stub: Stub, settings: Settings, tenant: str) -> None:
    past_the_leeway = -(settings.jwt_leeway_seconds + 60)
    token = mint_token(settings.require_jwt_secret(), tenant, "user-1", past_the_leeway)

    assert refusal(stub, token) == "expired"


def test_a_jwt_signed_with_another_secret_is_refused_as_a_bad_signature(
    stub: Stub, tenant: str
) -> None:
    token = mint_token(b"another-secret-" + b"x" * 32, tenant, "user-1", ttl_seconds=600)

    assert refusal(stub, token) == "bad_signature"


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "user-1"},  # no tenant
        {"tenant": "acme"},  # no subject
        {"tenant": "", "sub": "user-1"},
        {"tenant": "acme", "sub": "user-1", "scope": ["admin"]},  # scope must be a string
    ],
)
def test_a_jwt_missing_or_misusing_a_claim_is_malformed(
    stub: Stub, settings: Settings, claims: dict[str, object]
) -> None:
    token = jwt.encode(
        {**claims, "exp": int(time.time()) + 600}, settings.require_jwt_secret(), algorithm="HS256"
    )

    assert refusal(stub, token) == "malformed"


def test_an_unsigned_jwt_is_refused(stub: Stub, tenant: str) -> None:
    token = jwt.encode(
        {"tenant": tenant, "sub": "user-1", "exp": int(time.time()) + 600}, "", algorithm="none"
    )

    assert refusal(stub, token) == "malformed"


def test_a_disabled_tenant_makes_its_keys_and_jwts_invalid(
    client: SecurityHubClient,
    stub: Stub,
    keys: ApiKeyRepository,
    settings: Settings,
    disable: Callable[[str], None],
    tenant: str,
) -> None:
    _, plaintext = keys.issue(tenant, "ci", ["admin"])
    token = mint_token(settings.require_jwt_secret(), tenant, "user-1", ttl_seconds=600)
    assert client.validate_token(plaintext, TIMEOUT) is not None

    disable(tenant)

    assert client.validate_token(plaintext, TIMEOUT) is None
    assert client.validate_token(token, TIMEOUT) is None
    assert refusal(stub, plaintext) == "tenant_disabled"
    assert refusal(stub, token) == "tenant_disabled"


def test_an_active_tenant_record_leaves_its_tokens_valid(
    client: SecurityHubClient, keys: ApiKeyRepository, tenants: TenantRepository, tenant: str
) -> None:
    tenants.ensure(tenant, "Acme")
    _, plaintext = keys.issue(tenant, "ci", ["admin"])

    assert client.validate_token(plaintext, TIMEOUT) is not None


def test_no_token_reaches_the_hubs_logs(
    client: SecurityHubClient,
    keys: ApiKeyRepository,
    settings: Settings,
    tenant: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, plaintext = keys.issue(tenant, "ci", ["admin"])
    keys.revoke(tenant, keys.list(tenant)[0]["_id"])
    token = mint_token(b"another-secret-" + b"x" * 32, tenant, "user-1", ttl_seconds=600)
    caplog.set_level(logging.DEBUG)

    client.validate_token(plaintext, TIMEOUT)
    client.validate_token(token, TIMEOUT)

    assert "token refused: revoked" in caplog.text
    assert "token refused: bad_signature" in caplog.text
    assert plaintext not in caplog.text
    assert token not in caplog.text
    assert key_secret(plaintext) not in caplog.text
