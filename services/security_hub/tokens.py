"""Token validation: a Parley API key or JWT in, a verdict naming tenant and scopes out.

JWTs are checked by the same verifier as the ingress's (``core.jwt_verifier``): HS256 with
Parley's secret or RS256/ES256 from the configured JWKS, with the configured issuer and audience.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InvalidToken
from core.jwt_verifier import JwtVerifier
from storage.credentials import KEY_PREFIX, ApiKeyRepository
from storage.tenants import TenantRepository


@dataclass(frozen=True)
class TokenVerdict:
    """What the hub answers about one token; ``reason`` is empty exactly when it is valid."""

    reason: str = ""
    tenant_id: str = ""
    subject: str = ""
    scopes: tuple[str, ...] | None = ()  # None for a JWT without a ``scope`` claim
    expires_at: int = 0  # seconds since the Unix epoch; 0 for a key that does not expire
    token_id: str = ""  # a JWT's ``jti``; empty when it has none

    @property
    def valid(self) -> bool:
        return not self.reason


def tenant_is_disabled(tenants: TenantRepository, tenant_id: str) -> bool:
    """Whether the tenant was switched off; a tenant with no record is not (it may be new)."""
    tenant = tenants.get(tenant_id)
    return tenant is not None and tenant.get("state") == "disabled"


class TokenValidator:
    """Validates API keys (``pk_…``, against the key store) and JWTs.

    A JWT carries ``tenant``, ``sub`` and ``exp`` (all required) and an optional ``scope``
    claim of space-separated scopes, as in RFC 8693; the hub reports the scopes as claimed
    (an empty claim is no scopes) and says when the claim is absent, which the ingress decides
    what grants; and its ``jti``, which the ingress checks against the tokens it revoked.
    """

    def __init__(
        self,
        keys: ApiKeyRepository,
        tenants: TenantRepository,
        jwt_verifier: JwtVerifier,
    ) -> None:
        self._keys = keys
        self._tenants = tenants
        self._jwt_verifier = jwt_verifier

    def validate(self, token: str) -> TokenVerdict:
        if not token:
            return TokenVerdict(reason="malformed")
        verdict = self._api_key(token) if token.startswith(KEY_PREFIX) else self._jwt(token)
        # Checked last, so only a genuine credential learns that its tenant is switched off.
        if verdict.valid and tenant_is_disabled(self._tenants, verdict.tenant_id):
            return TokenVerdict(reason="tenant_disabled")
        return verdict

    def _api_key(self, token: str) -> TokenVerdict:
        check = self._keys.check(token)
        if check.key is None:
            return TokenVerdict(reason=check.reason)
        return TokenVerdict(
            tenant_id=check.key["tenant_id"],
            subject=check.key["_id"],
            scopes=tuple(check.key["scopes"]),
        )

    def _jwt(self, token: str) -> TokenVerdict:
        try:
            claims = self._jwt_verifier.verify(token)
        except InvalidToken as exc:
            return TokenVerdict(reason=exc.code)
        return TokenVerdict(
            tenant_id=claims.tenant_id,
            subject=claims.subject,
            scopes=None if claims.scopes is None else tuple(sorted(claims.scopes)),
            expires_at=claims.expires_at,
            token_id=claims.token_id or "",
        )
