"""Re-drive claims: at most one re-drive of a turn from a stage at a time, across reconcilers.

A claim is a Redis key set only if absent (atomic on every server, unlike FerretDB's conditional
updates) that expires on its own: a re-driven turn still quiet when it expires (its task was
lost again) can be re-driven once more, and never sooner.
"""

from __future__ import annotations

from redis import Redis


class RedriveClaims:
    def __init__(self, client: Redis) -> None:
        self._redis = client

    def claim(self, tenant_id: str, message_id: str, stage: str, ttl_seconds: float) -> bool:
        """True if this caller may re-drive the turn from ``stage`` now."""
        key = f"parley:redrive:{stage}:{tenant_id}:{message_id}"
        return bool(self._redis.set(key, "1", nx=True, px=int(ttl_seconds * 1000)))
