"""Sliding windows of events in Redis: how many distinct events a tenant's rule saw lately.

One sorted set a (tenant, rule, series): members are event ids, scores their times, so an
event read twice (a redelivery, a replay) is one member and counts once. Members older than the
window are trimmed as the window is read, and the set expires a window after its last event.
"""

from __future__ import annotations

import time

from redis import Redis

PREFIX = "parley:notify:window"


class EventWindows:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    @staticmethod
    def key(tenant_id: str, rule_id: str, series: str) -> str:
        return f"{PREFIX}:{tenant_id}:{rule_id}:{series}"

    def add(
        self, tenant_id: str, rule_id: str, series: str, event_id: str, at: float, window: float
    ) -> None:
        """Note ``event_id`` (at epoch seconds ``at``) in the series; once however often."""
        key = self.key(tenant_id, rule_id, series)
        pipe = self._redis.pipeline()
        pipe.zadd(key, {event_id: at}, nx=True)
        pipe.expire(key, int(window) + 60)
        pipe.execute()

    def count(self, tenant_id: str, rule_id: str, series: str, window: float) -> int:
        """The distinct events of the series within the last ``window`` seconds."""
        key = self.key(tenant_id, rule_id, series)
        since = time.time() - window
        pipe = self._redis.pipeline()
        pipe.zremrangebyscore(key, "-inf", f"({since}")
        pipe.zcard(key)
        return int(pipe.execute()[1])
