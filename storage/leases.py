"""Leases in Redis: short exclusive claims that carry an owner token and expire on their own.

A worker that dies holding a lease blocks nobody for longer than the lease's time to live, and
only the owner (by token) can release it, so a slow owner cannot release a successor's claim.
An owner about to act on its lease (send a part) renews it first: if the lease expired and
another copy took it over meanwhile, the renewal fails and the stalled owner stops (fencing).
"""

from __future__ import annotations

import secrets

from redis import Redis

from storage.errors import LeaseLost

# Delete the key only if it still holds our token.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

# Extend the key's expiry only if it still holds our token.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class Leases:
    def __init__(self, client: Redis) -> None:
        self._redis = client
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    def acquire(self, name: str, ttl_seconds: float) -> str | None:
        """A token if the lease was free (now ours for ``ttl_seconds``), else None."""
        token = secrets.token_hex(16)
        taken = self._redis.set(f"parley:lease:{name}", token, nx=True, px=int(ttl_seconds * 1000))
        return token if taken else None

    def release(self, name: str, token: str) -> bool:
        return bool(self._release(keys=[f"parley:lease:{name}"], args=[token]))

    def hold(self, name: str, token: str, ttl_seconds: float) -> None:
        """Renew the lease for ``ttl_seconds`` from now; ``LeaseLost`` if it is no longer ours."""
        renewed = self._renew(keys=[f"parley:lease:{name}"], args=[token, int(ttl_seconds * 1000)])
        if not renewed:
            raise LeaseLost(f"lease {name} is no longer held")
