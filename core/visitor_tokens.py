"""Visitor tokens: the short-lived credential a web widget's browser holds.

A visitor token is an HS256 JWT signed with a key *derived* from ``PARLEY_JWT_SECRET``
(``HMAC(secret, "parley-visitor-token-v1")``), never with the secret itself, so no visitor token
verifies as an API token and no API token as a visitor token. It names the tenant, the widget
and the visitor, and nothing else: it grants only that visitor's own conversation on that
widget (``docs/widget-protocol.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import jwt

from core.errors import InvalidToken

TOKEN_TYPE = "visitor"  # noqa: S105 (a claim value, not a secret)
_KEY_LABEL = b"parley-visitor-token-v1"


@dataclass(frozen=True)
class Visitor:
    """Who a visitor token speaks for. ``visitor_id`` is ``v_…`` for an anonymous visitor and
    ``user:<id>`` for one whose identity the tenant's backend signed."""

    tenant_id: str
    widget_id: str
    visitor_id: str
    expires_at: int


def visitor_key(secret: bytes) -> bytes:
    """The signing key of visitor tokens, derived from the platform's JWT secret."""
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def mint_visitor_token(
    secret: bytes, tenant_id: str, widget_id: str, visitor_id: str, ttl_seconds: int
) -> tuple[str, int]:
    """The token and its expiry (epoch seconds)."""
    now = int(time.time())
    expires_at = now + ttl_seconds
    claims = {
        "typ": TOKEN_TYPE,
        "tenant": tenant_id,
        "widget": widget_id,
        "sub": visitor_id,
        "iat": now,
        "exp": expires_at,
    }
    return jwt.encode(claims, visitor_key(secret), algorithm="HS256"), expires_at


def verify_visitor_token(secret: bytes, token: str, leeway_seconds: int = 0) -> Visitor:
    """The visitor a token names, if its signature and expiry check out; else InvalidToken."""
    try:
        claims = jwt.decode(
            token,
            visitor_key(secret),
            algorithms=["HS256"],
            leeway=leeway_seconds,
            options={"require": ["exp", "sub", "tenant", "widget", "typ"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the visitor token has expired", "expired") from None
    except jwt.PyJWTError:
        raise InvalidToken("the visitor token is not valid") from None
    fields = (claims.get("tenant"), claims.get("widget"), claims.get("sub"))
    if claims.get("typ") != TOKEN_TYPE or not all(isinstance(f, str) and f for f in fields):
        raise InvalidToken("the visitor token is not valid")
    return Visitor(str(fields[0]), str(fields[1]), str(fields[2]), int(claims["exp"]))
