"""Outbound pacing: a token bucket per provider account in Redis, so Parley does not itself
trip a provider's documented send limits (e.g. Slack's ~1 message per second per channel)."""

from __future__ import annotations

import time

from redis import Redis

# KEYS[1] bucket; ARGV: rate per second, burst, now (s), cost. Returns 0 when taken, else the
# seconds to wait until enough tokens will be there.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('hmget', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= cost then
    tokens = tokens - cost
else
    wait = (cost - tokens) / rate
end
redis.call('hset', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('expire', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class Pacer:
    def __init__(self, client: Redis) -> None:
        self._take = client.register_script(_TAKE)

    def take(self, bucket: str, rate_per_second: float, burst: float, cost: float = 1.0) -> float:
        """0.0 if a send may go now (the token is spent), else how many seconds to wait."""
        result = self._take(
            keys=[f"parley:pace:{bucket}"], args=[rate_per_second, burst, time.time(), cost]
        )
        return float(result)
