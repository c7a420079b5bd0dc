"""Which turns of a conversation are still on their way, for answering them in order.

A Redis sorted set per conversation and stage holds the ids of inbound messages that have not
passed the stage yet; ids sort by arrival, so "an earlier turn is unfinished" is one range
query. (FerretDB v1 scans a whole collection for any filter but ``_id``, so this check, made on
every generate and deliver, lives in Redis; MongoDB stays the truth: a stale entry is checked
there by ``_id`` and dropped.)

Redis may lose the index (restarted without its data, flushed, failed over). A later turn must
not then overtake an earlier one whose entry went with it, so the index is trusted only while
its marker key exists. The marker is set by ``rebuild`` alone, together with the entries of every
turn still in flight (read from MongoDB's open-turn notes): ``earlier`` reads the marker and the
range in one transaction and raises ``OrderIndexLost`` when the marker is gone. Entries added by
``open`` after a loss wait for that rebuild like the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

from redis import Redis

from core.errors import TransientError

STAGES = ("generate", "deliver")
TTL_SECONDS = 7 * 24 * 3600
INTACT_KEY = "parley:order:intact"


class OrderIndexLost(TransientError):
    """The order index lost its data since it was last rebuilt; rebuild it before trusting it."""


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
        pipe = self._redis.pipeline(transaction=True)
        pipe.exists(INTACT_KEY)
        pipe.zrangebylex(
            _key(tenant_id, conversation_id, stage), "-", f"({message_id}", start=0, num=1
        )
        intact, found = pipe.execute()
        if not intact:
            raise OrderIndexLost("the turn order index has no marker: it must be rebuilt")
        if not found:
            return None
        first = found[0]
        return first.decode() if isinstance(first, bytes) else str(first)

    def rebuild(self, in_flight: Iterable[tuple[str, str, str]]) -> int:
        """Add every in-flight turn (tenant, conversation, message id) to every stage and mark
        the index intact, all in one transaction; returns how many turns were added. Entries of
        turns that already passed a stage are dropped later, when a check finds them stale."""
        pipe = self._redis.pipeline(transaction=True)
        added = 0
        for tenant_id, conversation_id, message_id in in_flight:
            for stage in STAGES:
                key = _key(tenant_id, conversation_id, stage)
                pipe.zadd(key, {message_id: 0})
                pipe.expire(key, TTL_SECONDS)
            added += 1
        pipe.set(INTACT_KEY, "1")
        pipe.execute()
        return added
