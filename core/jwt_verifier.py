"""Bearer JWT verification: HS256 with Parley's secret, RS256/ES256 with keys from a JWKS URL.

The token's own ``alg`` header only picks where the key comes from; the key then has to fit the
algorithm (an RSA key cannot check an HS256 or ES256 signature), so no algorithm-confusion trick
turns a public key into an HMAC secret. JWKS keys are cached and refetched within bounds
(``core.jwks``), so tokens naming unknown key ids cannot make every request a fetch. ``exp`` is
required, ``nbf`` honoured, both with a small leeway; ``iss`` and ``aud`` are required when
configured; ``tenant`` and ``sub`` always.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt

from core.errors import InvalidToken, KeysUnavailable
from core.jwks import JwksKeys

if TYPE_CHECKING:
    from core.settings import Settings

HMAC_ALGORITHMS = frozenset({"HS256"})
JWKS_ALGORITHMS = frozenset({"RS256", "ES256"})


@dataclass(frozen=True)
class VerifiedClaims:
    tenant_id: str
    subject: str
    scopes: frozenset[str] | None  # None when the token has no ``scope`` claim
    token_id: str | None  # ``jti``, when present
    expires_at: int


class JwtVerifier:
    @classmethod
    def from_settings(cls, settings: Settings) -> JwtVerifier:
        """The verifier the settings describe (the ingress and the Security Hub share it)."""
        return cls(
            settings.require_jwt_secret(),
            settings.jwt_leeway_seconds,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            jwks_url=settings.jwt_jwks_url,
            jwks_cache_seconds=settings.jwt_jwks_cache_seconds,
        )

    def __init__(
        self,
        secret: bytes,
        leeway_seconds: int,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        jwks_url: str | None = None,
        jwks_cache_seconds: int = 300,
    ) -> None:
        self._secret = secret
        self._leeway = leeway_seconds
        self._issuer = issuer
        self._audience = audience
        self._jwks = JwksKeys(jwks_url, jwks_cache_seconds) if jwks_url else None

    def verify(self, token: str) -> VerifiedClaims:
        """The token's claims if its signature, times, issuer, audience and claims check out."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the token is not a JWT") from None
        algorithm, key_id = header.get("alg"), header.get("kid")
        if not isinstance(algorithm, str):  # e.g. a list, which no set lookup may hash
            raise InvalidToken("the token's algorithm is not accepted")
        key: Any
        if algorithm in HMAC_ALGORITHMS:
            key = self._secret
        elif algorithm in JWKS_ALGORITHMS and self._jwks is not None:
            key = _jwks_key(self._jwks, key_id, algorithm)
        else:
            raise InvalidToken("the token's algorithm is not accepted")
        required = ["exp", "sub", "tenant"]
        required += ["iss"] if self._issuer else []
        required += ["aud"] if self._audience else []
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                leeway=self._leeway,
                issuer=self._issuer,
                audience=self._audience,
                options={"require": required},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired", "expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet", "not_yet_valid") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is for another audience", "wrong_audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token is from another issuer", "wrong_issuer") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token's signature is not valid", "bad_signature") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError:
            raise InvalidToken("the token is not valid") from None
        return _claims(claims)


def _jwks_key(jwks: JwksKeys, key_id: Any, algorithm: str) -> Any:
    """The public key the token's ``kid`` names, if it is one for the token's algorithm."""
    if not isinstance(key_id, str) or not key_id:
        raise InvalidToken("the token names no signing key", "unknown_signing_key")
    try:
        found = jwks.get(key_id)
    except KeysUnavailable:
        raise InvalidToken(
            "the token's signing keys could not be fetched", "keys_unavailable"
        ) from None
    if found is None:
        raise InvalidToken("the token's signing key is unknown", "unknown_signing_key")
    # The JWK's own algorithm (its ``alg``, else its type and curve) must be the token's.
    if found.algorithm_name != algorithm:
        raise InvalidToken("the token's signing key does not fit its algorithm", "wrong_key_type")
    return found.key


def _claims(claims: dict[str, Any]) -> VerifiedClaims:
    tenant, subject, scope = claims.get("tenant"), claims.get("sub"), claims.get("scope")
    if not (isinstance(tenant, str) and tenant and isinstance(subject, str) and subject):
        raise InvalidToken("the token lacks a tenant or subject")
    if scope is not None and not isinstance(scope, str):
        raise InvalidToken("the token's scope claim is not a string")
    token_id = claims.get("jti")
    return VerifiedClaims(
        tenant_id=tenant,
        subject=subject,
        scopes=frozenset(scope.split()) if scope is not None else None,
        token_id=token_id if isinstance(token_id, str) and token_id else None,
        expires_at=int(claims["exp"]),
    )
