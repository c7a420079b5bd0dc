"""Which turns of a conversation are still on their way, for answering them in order.

A Redis sorted set per conversation and stage holds the ids of inbound messages that have not
passed the stage yet; ids sort by arrival, so "an earlier turn is unfinished" is one range
query. (FerretDB v1 scans a whole collection for any filter but ``_id``, so this check, made on
every generate and deliver, lives in Redis; MongoDB stays the truth: a stale entry is checked
there by ``_id`` and dropped.)
"""

from __future__ import annotations

from redis import Redis

STAGES = ("generate", "deliver")
TTL_SECONDS = 7 * 24 * 3600


def _key(tenant_id: str, conversation_id: str, stage: str) -> str:
    return f"parley:order:{stage}:{tenant_id}:{conversation_id}"


class TurnOrder:
    def __init__(self, client: Redis) -> None:
        self._redis = client

    def open(self, tenant_id: str, conversation_id: str, message_id: str) -> None:
        """The turn is on its way through every ordered stage."""
        pipe = self._redis.pipeline()
        for stage in STAGES:
            key = _key(tenant_id, conversation_id, stage)
            pipe.zadd(key, {message_id: 0})
            pipe.expire(key, TTL_SECONDS)
        pipe.execute()

    def passed(self, tenant_id: str, conversation_id: str, message_id: str, *stages: str) -> None:
        pipe = self._redis.pipeline()
        for stage in stages or STAGES:
            pipe.zrem(_key(tenant_id, conversation_id, stage), message_id)
        pipe.execute()

    def earlier(
        self, tenant_id: str, conversation_id: str, stage: str, message_id: str
    ) -> str | None:
        """The earliest turn before ``message_id`` that has not passed ``stage``, if any."""
        found = self._redis.zrangebylex(
            _key(tenant_id, conversation_id, stage), "-", f"({message_id}", start=0, num=1
        )
        if not found:
            return None
        first = found[0]
        return first.decode() if isinstance(first, bytes) else str(first)
