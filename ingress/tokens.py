"""Minting development tokens (``parley token``) with the same claims the ingress verifies."""

from __future__ import annotations

import time

import jwt


def mint_token(secret: bytes, tenant_id: str, subject: str, ttl_seconds: int) -> str:
    now = int(time.time())
    return jwt.encode(
        {"tenant": tenant_id, "sub": subject, "iat": now, "exp": now + ttl_seconds},
        secret,
        algorithm="HS256",
    )
