"""Minting development tokens (``parley token``) with the same claims the ingress verifies."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import jwt


def mint_token(
    secret: bytes,
    tenant_id: str,
    subject: str,
    ttl_seconds: int,
    *,
    scopes: Iterable[str] | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    token_id: str | None = None,
) -> str:
    """An HS256 token; without ``scopes`` it carries no ``scope`` claim, which the ingress reads
    as the default tenant scopes."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "tenant": tenant_id,
        "sub": subject,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if scopes is not None:
        claims["scope"] = " ".join(sorted(set(scopes)))
    if token_id:
        claims["jti"] = token_id  # what POST /v1/admin/tenants/{id}/revoked-tokens names
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")
