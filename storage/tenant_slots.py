"""Per-tenant concurrency slots in Redis: at most ``cap`` holders per (tenant, stage) at once.

A slot is a member of a sorted set scored by its expiry, so a worker that dies holding one
frees it when the expiry passes; taking and giving back are single atomic commands (a Lua
script takes: expire the stale, count, add), so two workers never both take the last slot.
"""

from __future__ import annotations

from redis import Redis

# KEYS[1] the tenant's slots; ARGV: holder, cap (0: none), hold seconds. 1 when taken (or held
# already).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
if redis.call('zscore', KEYS[1], ARGV[1]) then
    redis.call('zadd', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
    return 1
end
if tonumber(ARGV[2]) > 0 and redis.call('zcard', KEYS[1]) >= tonumber(ARGV[2]) then
    return 0
end
redis.call('zadd', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('expire', KEYS[1], math.ceil(tonumber(ARGV[3])) + 60)
return 1
"""


class TenantSlots:
    def __init__(self, client: Redis, prefix: str = "parley:slots") -> None:
        self._client = client
        self._take = client.register_script(_TAKE)
        self._prefix = prefix

    def _key(self, stage: str, tenant_id: str) -> str:
        return f"{self._prefix}:{stage}:{tenant_id}"

    def take(self, stage: str, tenant_id: str, holder: str, cap: int, hold_seconds: float) -> bool:
        """Whether ``holder`` now holds one of the tenant's ``cap`` slots for ``stage``; with
        ``cap`` 0 it always does (a slot beyond the cap, still counted against it)."""
        taken = self._take(keys=[self._key(stage, tenant_id)], args=[holder, cap, hold_seconds])
        return bool(int(taken))

    def give_back(self, stage: str, tenant_id: str, holder: str) -> None:
        self._client.zrem(self._key(stage, tenant_id), holder)

    def held(self, stage: str, tenant_id: str) -> int:
        """How many slots are held now, stale ones included until the next take."""
        return int(self._client.zcard(self._key(stage, tenant_id)))
