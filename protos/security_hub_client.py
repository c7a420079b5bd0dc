"""A typed Security Hub client that caches answers and fails fast when the hub is down (channel,
health, breaker and error mapping come from ``protos.grpc_client``).

grpc.RpcError
├── UNAVAILABLE, DEADLINE_EXCEEDED   → core.errors.TransientError (counted by the breaker)
└── any other status                 → core.errors.PermanentError
an open circuit                      → core.errors.TransientError, without calling the hub

Callers answer a TransientError with 503, never by letting the request through: the client
fails closed.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Unpack

import grpc

from core.errors import PermanentError
from core.ttl_cache import TtlCache
from protos import security_hub_pb2, security_hub_pb2_grpc
from protos.grpc_client import BreakerOptions, GrpcClient


@dataclass(frozen=True)
class TokenInfo:
    """Who a valid token speaks for."""

    tenant_id: str
    subject: str
    scopes: frozenset[str] | None  # None for a JWT without a ``scope`` claim
    expires_at: int  # seconds since the Unix epoch; 0 for a key that does not expire
    token_id: str | None = None  # a JWT's ``jti``, when it has one


class SecurityHubClient(GrpcClient):
    """One channel to the hub; create it per process, after any fork.

    Unlike the engine client, calls do not wait for the channel to (re)connect: a missing hub
    should cost a request one fast 503, not its whole deadline.
    """

    service = "security hub"
    transient_codes = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})

    def __init__(
        self,
        addr: str,
        *,
        cache_ttl_seconds: float = 30.0,
        cache_max_entries: int = 10_000,
        **breaker: Unpack[BreakerOptions],
    ) -> None:
        super().__init__(addr, **breaker)
        self._stub = security_hub_pb2_grpc.SecurityHubStub(self._channel)
        # Answers, valid and invalid, keyed by the token's SHA-256, never the token. A revoked key
        # or disabled tenant is still accepted until its answer expires here.
        self._cache_ttl = cache_ttl_seconds
        self._cache: TtlCache[bytes, TokenInfo | None] = TtlCache(
            cache_ttl_seconds, breaker.get("clock", time.monotonic), cache_max_entries
        )

    def validate_token(self, token: str, timeout: float) -> TokenInfo | None:
        """Who the token speaks for, or None when the hub says it is not valid."""
        key = hashlib.sha256(token.encode()).digest()
        return self._cache.get_or_load_timed(key, lambda: self._validate(token, timeout))

    def _validate(self, token: str, timeout: float) -> tuple[TokenInfo | None, float]:
        """The hub's answer and how long to remember it."""
        request = security_hub_pb2.ValidateTokenRequest(token=token)
        response = self._call(
            "ValidateToken", lambda: self._stub.ValidateToken(request, timeout=timeout)
        )
        info = _token_info(response)
        ttl = self._cache_ttl
        if info is not None and info.expires_at:  # never vouch for a JWT past its expiry
            ttl = min(ttl, info.expires_at - time.time())
        return info, ttl

    def check_permission(
        self, tenant_id: str, subject: str, permission: str, resource: str, timeout: float
    ) -> bool:
        """Whether the subject may do ``permission`` on ``resource`` in its tenant (not cached)."""
        request = security_hub_pb2.CheckPermissionRequest(
            tenant_id=tenant_id, subject=subject, permission=permission, resource=resource
        )
        response = self._call(
            "CheckPermission", lambda: self._stub.CheckPermission(request, timeout=timeout)
        )
        return bool(response.allowed)


def _token_info(response: security_hub_pb2.ValidateTokenResponse) -> TokenInfo | None:
    if not response.valid:
        return None
    if not response.tenant_id or not response.subject:  # fail closed on a broken answer
        raise PermanentError("security hub ValidateToken: a valid answer without tenant or subject")
    return TokenInfo(
        tenant_id=response.tenant_id,
        subject=response.subject,
        scopes=None if response.scope_claim_absent else frozenset(response.scopes),
        expires_at=response.expires_at,
        token_id=response.token_id or None,
    )
