"""Bearer-JWT authentication: the tenant comes from the verified token, never the body."""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from starlette.requests import Request

from ingress.problems import Problem

ALGORITHMS = ["HS256"]
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="parley"'}


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    subject: str


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", "Unauthorized", detail, headers=_CHALLENGE)


class TokenVerifier:
    """Verifies HS256 tokens with claims ``tenant``, ``sub`` and ``exp`` (all required)."""

    def __init__(self, secret: bytes, leeway_seconds: int) -> None:
        self._secret = secret
        self._leeway = leeway_seconds

    def principal(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("a bearer token is required")
        try:
            claims = jwt.decode(
                token.strip(),
                self._secret,
                algorithms=ALGORITHMS,
                leeway=self._leeway,
                options={"require": ["exp", "sub", "tenant"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("the token has expired") from None
        except jwt.PyJWTError:
            raise _unauthorized("the token is not valid") from None
        tenant, subject = claims.get("tenant"), claims.get("sub")
        if not isinstance(tenant, str) or not tenant or not isinstance(subject, str):
            raise _unauthorized("the token lacks a tenant or subject")
        return Principal(tenant_id=tenant, subject=subject)
