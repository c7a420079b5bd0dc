"""Token validation: a Parley API key or HS256 JWT in, a verdict naming tenant and scopes out."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from storage.credentials import KEY_PREFIX, ApiKeyRepository
from storage.tenants import TenantRepository

ALGORITHMS = ["HS256"]


@dataclass(frozen=True)
class TokenVerdict:
    """What the hub answers about one token; ``reason`` is empty exactly when it is valid."""

    reason: str = ""
    tenant_id: str = ""
    subject: str = ""
    scopes: tuple[str, ...] = ()
    expires_at: int = 0  # seconds since the Unix epoch; 0 for a key that does not expire

    @property
    def valid(self) -> bool:
        return not self.reason


def tenant_is_disabled(tenants: TenantRepository, tenant_id: str) -> bool:
    """Whether the tenant was switched off; a tenant with no record is not (it may be new)."""
    tenant = tenants.get(tenant_id)
    return tenant is not None and tenant.get("state") == "disabled"


class TokenValidator:
    """Validates API keys (``pk_…``, against the key store) and Parley's HS256 JWTs.

    A JWT carries ``tenant``, ``sub`` and ``exp`` (all required) and an optional ``scope``
    claim of space-separated scopes, as in RFC 8693.
    """

    def __init__(
        self,
        keys: ApiKeyRepository,
        tenants: TenantRepository,
        jwt_secret: bytes,
        leeway_seconds: int,
    ) -> None:
        self._keys = keys
        self._tenants = tenants
        self._jwt_secret = jwt_secret
        self._leeway = leeway_seconds

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
            claims = jwt.decode(
                token,
                self._jwt_secret,
                algorithms=ALGORITHMS,
                leeway=self._leeway,
                options={"require": ["exp", "sub", "tenant"]},
            )
        except jwt.ExpiredSignatureError:
            return TokenVerdict(reason="expired")
        except jwt.InvalidSignatureError:
            return TokenVerdict(reason="bad_signature")
        except jwt.ImmatureSignatureError:
            return TokenVerdict(reason="not_yet_valid")
        except jwt.PyJWTError:
            return TokenVerdict(reason="malformed")
        tenant, subject, scope = claims["tenant"], claims["sub"], claims.get("scope", "")
        if not (isinstance(tenant, str) and tenant and isinstance(subject, str) and subject):
            return TokenVerdict(reason="malformed")
        if not isinstance(scope, str):
            return TokenVerdict(reason="malformed")
        return TokenVerdict(
            tenant_id=tenant,
            subject=subject,
            scopes=tuple(sorted(set(scope.split()))),
            expires_at=int(claims["exp"]),
        )
