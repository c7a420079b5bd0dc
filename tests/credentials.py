"""Credentials for tests: platform-admin and tenant tokens, tenants and keys made through the
admin API, and an in-process ingress with its own client address (so the failed-authentication
limit of one test never counts another's failures)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from starlette.testclient import TestClient

from core.scopes import ADMIN, PLATFORM_TENANT
from core.settings import Settings
from core.tokens import mint_token


def key_secret(plaintext: str) -> str:
    """The secret part of an API key, ``pk_key_<32 hex>_<43 url-safe characters>``. The secret
    itself may hold "_", so it is cut from the left: cut at the last "_", a check that it appears
    nowhere could look for a few characters, or for none, and fail or pass by chance."""
    prefix, kind, key_hex, secret = plaintext.split("_", 3)
    assert (prefix, kind, len(key_hex), len(secret)) == ("pk", "key", 32, 43), plaintext
    return secret


def admin_headers(settings: Settings) -> dict[str, str]:
    token = mint_token(
        settings.require_jwt_secret(), PLATFORM_TENANT, "operator", 600, scopes=[ADMIN]
    )
    return {"Authorization": f"Bearer {token}"}


def tenant_headers(
    settings: Settings, tenant: str, scopes: Iterable[str] | None = None, subject: str = "u"
) -> dict[str, str]:
    token = mint_token(settings.require_jwt_secret(), tenant, subject, 600, scopes=scopes)
    return {"Authorization": f"Bearer {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_tenant_id() -> str:
    return "t-" + secrets.token_hex(4)


def create_tenant(
    client: TestClient, settings: Settings, tenant: str | None = None, **fields: Any
) -> str:
    tenant = tenant or new_tenant_id()
    response = client.post(
        "/v1/admin/tenants",
        headers=admin_headers(settings),
        json={"id": tenant, "name": f"Tenant {tenant}", **fields},
    )
    assert response.status_code == 201, response.text
    return tenant


def issue_key(
    client: TestClient, settings: Settings, tenant: str, scopes: list[str], name: str = "k"
) -> dict[str, Any]:
    response = client.post(
        f"/v1/admin/tenants/{tenant}/keys",
        headers=admin_headers(settings),
        json={"name": name, "scopes": scopes},
    )
    assert response.status_code == 201, response.text
    issued: dict[str, Any] = response.json()
    return issued


def set_state(client: TestClient, settings: Settings, tenant: str, state: str) -> None:
    response = client.patch(
        f"/v1/admin/tenants/{tenant}", headers=admin_headers(settings), json={"state": state}
    )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == state


def client_address() -> tuple[str, int]:
    """A client address of its own for one test client."""
    return (f"client-{secrets.token_hex(6)}", 50000)
