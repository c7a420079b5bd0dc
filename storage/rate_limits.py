"""Inbound rate limits: token buckets in Redis, taken from several buckets in one Lua script.

A request spends one token from its tenant's bucket and one from its credential's, or from
neither: the script checks every bucket before it spends, so a refused request costs nothing
and two ingress processes can never both take the last token (Redis runs a script atomically).
A failed authentication is counted differently (``take_each``): every bucket that still holds a
token spends one, so a failure is counted against its address and its credential even when
one of them has run dry. The time is Redis's own (``TIME``), so ingress hosts with skewed
clocks share one timeline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from redis import Redis

# KEYS: the buckets. ARGV: cost, how many of the keys (the first) to spend from (the others are
# only looked at), 1 to spend from each bucket that can pay even when another cannot (else 0:
# all or none), then (rate per second, burst) for every key. Returns {allowed (0/1), wait
# seconds (string), index of the key that refused (0 if none), then per key: tokens left
# (string)}.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cost = tonumber(ARGV[1])
local spent = tonumber(ARGV[2])
local each = tonumber(ARGV[3]) == 1
local need = math.max(cost, 1)
local levels = {}
local wait = 0
local refused = 0
for i = 1, #KEYS do
    local rate = tonumber(ARGV[2 * i + 2])
    local burst = tonumber(ARGV[2 * i + 3])
    local state = redis.call('hmget', KEYS[i], 'tokens', 'at')
    local tokens = tonumber(state[1]) or burst
    local at = tonumber(state[2]) or now
    tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
    levels[i] = tokens
    local wanted = need
    if i > spent then
        wanted = 1
    end
    if tokens < wanted and (wanted - tokens) / rate > wait then
        wait = (wanted - tokens) / rate
        refused = i
    end
end
local answer = {0, tostring(wait), refused}
if refused == 0 then
    answer[1] = 1
end
for i = 1, #KEYS do
    if i <= spent then
        local rate = tonumber(ARGV[2 * i + 2])
        local burst = tonumber(ARGV[2 * i + 3])
        if refused == 0 or (each and levels[i] >= need) then
            levels[i] = levels[i] - cost
        end
        redis.call('hset', KEYS[i], 'tokens', levels[i], 'at', now)
        redis.call('expire', KEYS[i], math.ceil(burst / rate) + 60)
    end
    answer[i + 3] = tostring(levels[i])
end
return answer
"""


@dataclass(frozen=True)
class Bucket:
    """One limit: ``burst`` requests at once, refilled at ``per_second``."""

    name: str  # what it limits, e.g. "tenant" or "credential"
    key: str
    per_second: float
    burst: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float  # seconds until the request would be allowed; 0 when it is
    limit: int  # of the most constraining bucket
    remaining: int
    reset: int  # seconds until that bucket is full again
    bucket: str  # the most constraining bucket's name


class RateLimiter:
    def __init__(self, client: Redis, prefix: str = "parley:rl") -> None:
        self._take = client.register_script(_TAKE)
        self._prefix = prefix

    def key(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    def take(self, buckets: Sequence[Bucket], cost: int = 1) -> Verdict:
        """Spends ``cost`` tokens from every bucket, or none when any lacks them. ``cost=0``
        only asks whether a request would pass. One round trip to Redis, however many
        buckets."""
        allowed, wait, refused, levels = self._run(buckets, cost, len(buckets), each=False)
        return _verdict(buckets, allowed, wait, refused, levels)

    def take_each(self, buckets: Sequence[Bucket]) -> Verdict:
        """Spends a token from every bucket that holds one; the verdict refuses when any held
        none. One round trip."""
        allowed, wait, refused, levels = self._run(buckets, 1, len(buckets), each=True)
        return _verdict(buckets, allowed, wait, refused, levels)

    def peek(self, buckets: Sequence[Bucket]) -> list[Verdict]:
        """Each bucket's own verdict (would one token pass?), spending nothing. One round
        trip."""
        _, _, _, levels = self._run(buckets, 0, 0, each=False)
        return [
            _level_verdict(bucket, level) for bucket, level in zip(buckets, levels, strict=True)
        ]

    def _run(
        self, buckets: Sequence[Bucket], cost: int, spent: int, *, each: bool
    ) -> tuple[bool, float, int, list[float]]:
        args: list[float] = [cost, spent, int(each)]
        for bucket in buckets:
            args += [bucket.per_second, bucket.burst]
        answer = self._take(keys=[b.key for b in buckets], args=args)
        levels = [float(x) for x in answer[3:]]
        return bool(int(answer[0])), float(answer[1]), int(answer[2]), levels


def _verdict(
    buckets: Sequence[Bucket], allowed: bool, wait: float, refused: int, levels: list[float]
) -> Verdict:
    if refused:
        shown, level = buckets[refused - 1], levels[refused - 1]
    else:
        shown, level = min(
            zip(buckets, levels, strict=True),
            key=lambda pair: (pair[1] / pair[0].burst, pair[0].burst),
        )
    return Verdict(
        allowed=allowed,
        retry_after=wait,
        limit=shown.burst,
        remaining=max(0, math.floor(level)),
        reset=math.ceil(max(0.0, shown.burst - level) / shown.per_second),
        bucket=shown.name,
    )


def _level_verdict(bucket: Bucket, level: float) -> Verdict:
    return Verdict(
        allowed=level >= 1,
        retry_after=max(0.0, 1 - level) / bucket.per_second,
        limit=bucket.burst,
        remaining=max(0, math.floor(level)),
        reset=math.ceil(max(0.0, bucket.burst - level) / bucket.per_second),
        bucket=bucket.name,
    )
