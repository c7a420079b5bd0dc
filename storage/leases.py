"""Leases in Redis: short exclusive claims that carry an owner token and expire on their own.

A worker that dies holding a lease blocks nobody for longer than the lease's time to live, and
only the owner (by token) can release it, so a slow owner cannot release a successor's claim.
"""

from __future__ import annotations

import secrets

from redis import Redis

# Delete the key only if it still holds our token.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class Leases:
    def __init__(self, client: Redis) -> None:
        self._redis = client
        self._release = client.register_script(_RELEASE)

    def acquire(self, name: str, ttl_seconds: float) -> str | None:
        """A token if the lease was free (now ours for ``ttl_seconds``), else None."""
        token = secrets.token_hex(16)
        taken = self._redis.set(f"parley:lease:{name}", token, nx=True, px=int(ttl_seconds * 1000))
        return token if taken else None

    def release(self, name: str, token: str) -> bool:
        return bool(self._release(keys=[f"parley:lease:{name}"], args=[token]))
