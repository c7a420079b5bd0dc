"""Revoked JWTs: a tenant's token ids (``jti``) refused until the token would expire anyway.

A JWT cannot be taken back from its holder, so revocation is a list the ingress consults. Each
entry lives in Redis only as long as the token it names (``exp`` plus the clock-skew leeway),
so the list never grows beyond the tokens still alive. The key carries the tenant, so one
tenant cannot revoke (or probe) another's token ids.
"""

from __future__ import annotations

import math
import time

from redis import Redis


class RevokedTokens:
    def __init__(
        self, client: Redis, leeway_seconds: int, prefix: str = "parley:revoked-jti"
    ) -> None:
        self._client = client
        self._leeway = leeway_seconds
        self._prefix = prefix

    def _key(self, tenant_id: str, token_id: str) -> str:
        return f"{self._prefix}:{tenant_id}:{token_id}"

    def revoke(self, tenant_id: str, token_id: str, expires_at: int) -> bool:
        """Refuse the token from now until it expires; False if it has expired already."""
        ttl = math.ceil(expires_at + self._leeway - time.time())
        if ttl <= 0:
            return False
        self._client.set(self._key(tenant_id, token_id), "1", ex=ttl)
        return True

    def is_revoked(self, tenant_id: str, token_id: str) -> bool:
        return bool(self._client.exists(self._key(tenant_id, token_id)))
