"""Daily quotas per tenant in Redis: a counter per tenant and UTC day.

``INCR`` is atomic, so concurrent requests never get more than the quota between them; a
request over the quota gives its count back at once, so refusals do not eat tomorrow's share.
"""

from __future__ import annotations

from datetime import UTC, datetime

from redis import Redis

DAY_SECONDS = 86_400


class DailyQuota:
    def __init__(self, client: Redis, name: str, prefix: str = "parley:quota") -> None:
        self._client = client
        self._name = name
        self._prefix = prefix

    def _key(self, tenant_id: str) -> str:
        day = datetime.now(UTC).strftime("%Y%m%d")
        return f"{self._prefix}:{tenant_id}:{self._name}:{day}"

    def take(self, tenant_id: str, limit: int) -> bool:
        """Counts one use today; False (and nothing counted) when the quota is used up."""
        key = self._key(tenant_id)
        pipe = self._client.pipeline()
        pipe.incr(key)
        pipe.expire(key, 2 * DAY_SECONDS)
        count = int(pipe.execute()[0])
        if count > limit:
            self._client.decr(key)
            return False
        return True

    def give_back(self, tenant_id: str) -> None:
        self._client.decr(self._key(tenant_id))
