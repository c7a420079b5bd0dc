"""Authentication: one authenticator turns the ``Authorization`` header into a ``Principal``.

The scheme is picked from the credential itself, in this order:

- ``PARLEY_SECURITY_HUB_ADDR`` set: every credential goes to the Security Hub (ValidateToken,
  cached briefly by the client; CheckPermission for API keys). The hub being down fails closed:
  503, never a request let through.
- ``Bearer pk_…``: a tenant API key, checked against its stored hash.
- any other ``Bearer`` token: a JWT (``core.jwt_verifier``).

Either way a JWT is refused when its ``jti`` was revoked (``storage.revoked_tokens``, asked on
every request, so the hub's cached answer does not outlive a revocation), and one without a
``scope`` claim gets every tenant scope while an empty ``scope`` gets none.

The tenant comes from the credential only. Nothing here logs or returns a credential.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from core import scopes as scope_names
from core.errors import DependencyError, InvalidToken
from core.jwt_verifier import JwtVerifier
from core.ttl_cache import TtlCache
from ingress.problems import Problem
from protos.security_hub_client import SecurityHubClient
from storage.credentials import KEY_PREFIX, ApiKeyRepository
from storage.revoked_tokens import RevokedTokens

CHALLENGE = 'Bearer realm="parley"'
KEY_REFUSALS = {
    "malformed": "the API key is malformed",
    "unknown_key": "the API key is not valid",
    "revoked": "the API key was revoked",
}


@dataclass(frozen=True)
class Principal:
    """Who a request speaks for: the tenant, the subject in it, its scopes, and the credential
    (a key id, or ``jwt:<sub>``) that rate limits count against."""

    tenant_id: str
    subject: str
    scopes: frozenset[str] = frozenset()
    credential_id: str = ""


class Unauthorized(Problem):
    """A 401 that also tells the guard, never the caller, why (``reason``, a short code) and
    whose credential it was, when that is known (``tenant_id``): the audit trail counts it."""

    def __init__(
        self, detail: str, reason: str, tenant_id: str | None = None, challenge: str = CHALLENGE
    ) -> None:
        super().__init__(
            401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": challenge}
        )
        self.reason = reason
        self.tenant_id = tenant_id


def unauthorized(detail: str, reason: str = "invalid", tenant_id: str | None = None) -> Problem:
    return Unauthorized(detail, reason, tenant_id)


def hub_unavailable() -> Problem:
    return Problem(
        503,
        "security-hub-unavailable",
        "Service unavailable",
        "credentials cannot be checked right now; retry later",
        headers={"Retry-After": "1"},
    )


def principal_of(request: Request) -> Principal:
    """The principal the route's guard authenticated (see ``ingress.routing``)."""
    principal: Principal = request.state.principal
    return principal


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("a bearer token is required", "missing")
    return token


class Authenticator:
    """Picks the scheme for a credential and answers who it speaks for (blocking: call it from
    a thread)."""

    def __init__(
        self,
        tokens: JwtVerifier,
        keys: ApiKeyRepository,
        hub: SecurityHubClient | None = None,
        hub_timeout_seconds: float = 1.0,
        hub_cache_seconds: float = 0.0,
        revoked: RevokedTokens | None = None,
    ) -> None:
        self._tokens = tokens
        self._revoked = revoked
        self._keys = keys
        self._hub = hub
        self._hub_timeout = hub_timeout_seconds
        # The hub's permission answers, as briefly as its token answers (the client caches those).
        # (tenant, subject, permission) → the hub's answer.
        self._permissions: TtlCache[tuple[str, str, str], bool] = TtlCache(hub_cache_seconds)

    def authenticate(self, token: str) -> Principal:
        if self._hub is not None:
            return self._from_hub(self._hub, token)
        if token.startswith(KEY_PREFIX):
            return self._from_key(token)
        return self._from_jwt(token)

    def authorize(self, principal: Principal, scope: str, resource: str) -> None:
        """Refuses (403) a principal whose scopes lack ``scope``; with a hub, an API key's
        permission is the hub's to grant."""
        if scope not in principal.scopes:
            raise insufficient_scope(scope)
        if self._hub is not None and principal.credential_id.startswith("key_"):
            question = (principal.tenant_id, principal.subject, scope)
            allowed = self._permissions.peek(question)
            if allowed is None:
                try:
                    allowed = self._hub.check_permission(
                        principal.tenant_id, principal.subject, scope, resource, self._hub_timeout
                    )
                except DependencyError:
                    raise hub_unavailable() from None
                self._permissions.put(question, allowed)
            if not allowed:
                raise insufficient_scope(scope)

    def _from_key(self, token: str) -> Principal:
        check = self._keys.check(token)
        if check.key is None:
            detail = KEY_REFUSALS.get(check.reason, "the API key is not valid")
            raise unauthorized(detail, check.reason, check.tenant_id)
        tenant, key_id = check.key["tenant_id"], check.key["_id"]
        return Principal(tenant, key_id, _granted(tenant, set(check.key["scopes"])), key_id)

    def _from_jwt(self, token: str) -> Principal:
        try:
            claims = self._tokens.verify(token)
        except InvalidToken as exc:
            if exc.code == "keys_unavailable":  # the JWKS is down: fail closed, say so
                raise Problem(
                    503,
                    "unavailable",
                    "Service unavailable",
                    exc.reason + "; retry later",
                    headers={"Retry-After": "1"},
                ) from None
            raise unauthorized(exc.reason, exc.code) from None
        self._refuse_revoked(claims.tenant_id, claims.token_id)
        return Principal(
            claims.tenant_id,
            claims.subject,
            _granted(claims.tenant_id, _jwt_scopes(claims.scopes)),
            f"jwt:{claims.subject}",
        )

    def _refuse_revoked(self, tenant_id: str, token_id: str | None) -> None:
        if token_id and self._revoked and self._revoked.is_revoked(tenant_id, token_id):
            raise unauthorized("the token was revoked", "revoked", tenant_id)

    def _from_hub(self, hub: SecurityHubClient, token: str) -> Principal:
        try:
            info = hub.validate_token(token, self._hub_timeout)
        except DependencyError:
            raise hub_unavailable() from None
        if info is None:
            raise unauthorized("the credential is not valid")
        if token.startswith(KEY_PREFIX):
            scopes = set(info.scopes or ())
            return Principal(
                info.tenant_id, info.subject, _granted(info.tenant_id, scopes), info.subject
            )
        self._refuse_revoked(info.tenant_id, info.token_id)
        return Principal(
            info.tenant_id,
            info.subject,
            _granted(info.tenant_id, _jwt_scopes(info.scopes)),
            f"jwt:{info.subject}",
        )


def _jwt_scopes(claimed: frozenset[str] | None) -> set[str]:
    """A JWT's scopes: as claimed (an empty claim is none), every tenant scope without a claim
    (the holder of the signing secret could mint any scope anyway)."""
    return set(scope_names.DEFAULT_TENANT_SCOPES if claimed is None else claimed)


def _granted(tenant_id: str, scopes: set[str]) -> frozenset[str]:
    return scope_names.effective_scopes(tenant_id, frozenset(scopes))


def insufficient_scope(scope: str) -> Problem:
    return Problem(
        403,
        "insufficient-scope",
        "Forbidden",
        f"this credential lacks the {scope!r} scope",
        headers={"WWW-Authenticate": f'{CHALLENGE}, error="insufficient_scope", scope="{scope}"'},
        required_scope=scope,
    )
