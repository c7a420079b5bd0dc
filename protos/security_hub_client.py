"""A typed Security Hub client that caches answers, fails fast when the hub is down, and maps gRPC
failures to Parley's error tree once.

grpc.RpcError
├── UNAVAILABLE, DEADLINE_EXCEEDED   → core.errors.TransientError (counted by the breaker)
└── any other status                 → core.errors.PermanentError
an open circuit                      → core.errors.TransientError, without calling the hub

Callers answer a TransientError with 503, never by letting the request through: the client
fails closed.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from core.errors import DependencyError, PermanentError, TransientError
from core.ttl_cache import TtlCache
from protos import security_hub_pb2, security_hub_pb2_grpc

TRANSIENT_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# Reconnect quickly after a hub restart; keep this below the breaker's open time, so the channel
# has tried again by the time the half-open probe goes out.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2000),
]

Clock = Callable[[], float]
Answer = TypeVar("Answer")


def hub_error(method: str, exc: grpc.RpcError) -> DependencyError:
    """The Parley error for a failed hub call; its message names the gRPC status."""
    code = exc.code()
    error = TransientError if code in TRANSIENT_CODES else PermanentError
    return error(f"security hub {method} failed: {code.name}: {exc.details() or 'no details'}")


@dataclass(frozen=True)
class TokenInfo:
    """Who a valid token speaks for."""

    tenant_id: str
    subject: str
    scopes: frozenset[str] | None  # None for a JWT without a ``scope`` claim
    expires_at: int  # seconds since the Unix epoch; 0 for a key that does not expire
    token_id: str | None = None  # a JWT's ``jti``, when it has one


class CircuitBreaker:
    """Closed until ``threshold`` transient failures in a row, then open for ``open_seconds``:
    calls fail fast. Then half-open: one probe goes out; its success closes the circuit, its
    failure opens it again."""

    def __init__(self, threshold: int, open_seconds: float, clock: Clock) -> None:
        self._threshold = threshold
        self._open_seconds = open_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    def before_call(self) -> None:
        """Returns if a call may go out; raises TransientError while the circuit is open."""
        with self._lock:
            if self._opened_at is None:
                return
            waited = self._clock() - self._opened_at
            if waited >= self._open_seconds and not self._probing:
                self._probing = True  # half-open: this call is the probe
                return
            failures = self._failures
        raise TransientError(
            f"security hub circuit open after {failures} failures in a row: failing fast"
        )

    def succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self._threshold:
                self._opened_at = self._clock()
                self._probing = False


class SecurityHubClient:
    """One insecure channel to the hub; create it per process, after any fork.

    Unlike the engine client, calls do not wait for the channel to (re)connect: a missing hub
    should cost a request one fast 503, not its whole deadline.
    """

    def __init__(
        self,
        addr: str,
        *,
        cache_ttl_seconds: float = 30.0,
        cache_max_entries: int = 10_000,
        breaker_threshold: int = 5,
        breaker_open_seconds: float = 5.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._channel = grpc.insecure_channel(addr, options=CHANNEL_OPTIONS)
        self._stub = security_hub_pb2_grpc.SecurityHubStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        # Answers, valid and invalid, keyed by the token's SHA-256, never the token. A revoked key
        # or disabled tenant is still accepted until its answer expires here.
        self._cache_ttl = cache_ttl_seconds
        self._cache: TtlCache[bytes, TokenInfo | None] = TtlCache(
            cache_ttl_seconds, clock, cache_max_entries
        )
        self._breaker = CircuitBreaker(breaker_threshold, breaker_open_seconds, clock)

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

    def is_serving(self, timeout: float = 1.0) -> bool:
        """Whether the hub's standard health service reports SERVING; False on any error."""
        request = health_pb2.HealthCheckRequest(service="")  # "" is the whole server
        try:
            response = self._health.Check(request, timeout=timeout)
        except Exception:  # readiness is a yes/no question: any failure is a no
            return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    def close(self) -> None:
        """Closes the channel; in-flight calls are cancelled."""
        self._channel.close()

    def _call(self, method: str, call: Callable[[], Answer]) -> Answer:
        self._breaker.before_call()
        try:
            answer = call()
        except grpc.RpcError as exc:
            error = hub_error(method, exc)
            if isinstance(error, TransientError):
                self._breaker.failed()
            else:  # the hub answered, so it is up
                self._breaker.succeeded()
            raise error from exc
        except BaseException:
            self._breaker.failed()  # never leave a half-open probe outstanding
            raise
        self._breaker.succeeded()
        return answer


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
