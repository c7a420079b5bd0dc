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

A turn that must wait parks: it joins its conversation's parked set for the stage and its task
ends. The turn that passes the stage hands over in the same script that removes it: if the
first turn still in the index is parked, it is taken out of the parked set (so exactly one
caller wakes it) and returned, for the caller to enqueue. Waiting thus costs nothing, however
long the earlier turn takes (see tasks/ordering.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from redis import Redis

from core.stages import ORDERED
from storage.errors import OrderIndexLost
from storage.scripts import PipelinedScript

TTL_SECONDS = 7 * 24 * 3600
INTACT_KEY = "parley:order:intact"


def _key(tenant_id: str, conversation_id: str, stage: str) -> str:
    return f"parley:order:{stage}:{tenant_id}:{conversation_id}"


def _parked_key(tenant_id: str, conversation_id: str, stage: str) -> str:
    return f"parley:parked:{stage}:{tenant_id}:{conversation_id}"


def conversation_keys(tenant_id: str, conversation_id: str) -> list[str]:
    """Every key this index keeps for one conversation (its turns and parked turns per stage)."""
    return [
        key
        for stage in ORDERED
        for key in (
            _key(tenant_id, conversation_id, stage),
            _parked_key(tenant_id, conversation_id, stage),
        )
    ]


# KEYS: the stage's index, its parked set, the marker; ARGV: the member that passed ("" for
# none). Removes the member, then takes the index's first turn out of the parked set and
# returns it if it was parked. An index without its marker wakes nobody: it may miss turns.
_HAND_OVER = """
if ARGV[1] ~= '' then
    redis.call('zrem', KEYS[1], ARGV[1])
end
if redis.call('exists', KEYS[3]) == 0 then
    return false
end
local head = redis.call('zrange', KEYS[1], 0, 0)[1]
if head and redis.call('srem', KEYS[2], head) == 1 then
    return head
end
return false
"""


class TurnOrder:
    def __init__(self, client: Redis) -> None:
        self._redis = client
        self._pass = PipelinedScript(client, _HAND_OVER)

    def open(self, tenant_id: str, conversation_id: str, message_id: str) -> None:
        """The turn is on its way through every ordered stage."""
        pipe = self._redis.pipeline()
        for stage in ORDERED:
            key = _key(tenant_id, conversation_id, stage)
            pipe.zadd(key, {message_id: 0})
            pipe.expire(key, TTL_SECONDS)
        pipe.execute()

    def passed(
        self, tenant_id: str, conversation_id: str, message_id: str, *stages: str
    ) -> list[tuple[str, str]]:
        """The turn passed ``stages`` (every ordered stage if none are named). Returns the
        (stage, message id) of each parked turn that is now first in line and was taken out of
        the parked set: the caller must enqueue it. ``message_id=""`` only hands over."""
        names = stages or ORDERED
        keys = [
            [
                _key(tenant_id, conversation_id, stage),
                _parked_key(tenant_id, conversation_id, stage),
                INTACT_KEY,
            ]
            for stage in names
        ]
        woken = self._pass.run_all([(each, [message_id]) for each in keys])
        return [
            (stage, head.decode() if isinstance(head, bytes) else str(head))
            for stage, head in zip(names, woken, strict=True)
            if head
        ]

    def forget(self, tenant_id: str, conversation_id: str, message_id: str) -> None:
        """Drop the entries of a turn that was never stored (no turn can be parked behind it:
        a check that meets such an entry finds no message and passes it)."""
        pipe = self._redis.pipeline(transaction=False)
        for stage in ORDERED:
            pipe.zrem(_key(tenant_id, conversation_id, stage), message_id)
        pipe.execute()

    def park(self, tenant_id: str, conversation_id: str, stage: str, message_id: str) -> None:
        """The turn waits at ``stage`` until the turn before it hands over."""
        key = _parked_key(tenant_id, conversation_id, stage)
        pipe = self._redis.pipeline(transaction=False)
        pipe.sadd(key, message_id)
        pipe.expire(key, TTL_SECONDS)
        pipe.execute()

    def unpark(self, tenant_id: str, conversation_id: str, stage: str, message_id: str) -> bool:
        """Take the turn out of the parked set; False if it was not there (it was woken)."""
        return bool(self._redis.srem(_parked_key(tenant_id, conversation_id, stage), message_id))

    def parked(self, turns: Iterable[tuple[str, str, str, str]]) -> list[bool]:
        """For each (tenant, conversation, stage, message id), whether the turn is parked."""
        pipe = self._redis.pipeline(transaction=False)
        for tenant_id, conversation_id, stage, message_id in turns:
            pipe.sismember(_parked_key(tenant_id, conversation_id, stage), message_id)
        return [bool(member) for member in pipe.execute()]

    def head(self, tenant_id: str, conversation_id: str, stage: str) -> str | None:
        """The first turn of the conversation that has not passed ``stage``, if any."""
        found = self._redis.zrange(_key(tenant_id, conversation_id, stage), 0, 0)
        if not found:
            return None
        first = found[0]
        return first.decode() if isinstance(first, bytes) else str(first)

    def earlier(
        self, tenant_id: str, conversation_id: str, stage: str, message_id: str, later: int = 0
    ) -> tuple[str | None, list[str]]:
        """The earliest turn before ``message_id`` that has not passed ``stage``, if any; and,
        in the same round trip, up to ``later`` turns after it that have not passed it either,
        in order (entries only: the caller checks each in MongoDB, as for the earlier one)."""
        key = _key(tenant_id, conversation_id, stage)
        pipe = self._redis.pipeline(transaction=True)
        pipe.exists(INTACT_KEY)
        pipe.zrangebylex(key, "-", f"({message_id}", start=0, num=1)
        if later > 0:
            pipe.zrangebylex(key, f"({message_id}", "+", start=0, num=later)
        intact, found, *after = pipe.execute()
        if not intact:
            raise OrderIndexLost("the turn order index has no marker: it must be rebuilt")
        following = [_text(each) for each in (after[0] if after else [])]
        return (_text(found[0]) if found else None), following

    def rebuild(self, in_flight: Iterable[tuple[str, str, str]]) -> int:
        """Add every in-flight turn (tenant, conversation, message id) to every stage and mark
        the index intact, all in one transaction; returns how many turns were added. Entries of
        turns that already passed a stage are dropped later, when a check finds them stale."""
        pipe = self._redis.pipeline(transaction=True)
        added = 0
        for tenant_id, conversation_id, message_id in in_flight:
            for stage in ORDERED:
                key = _key(tenant_id, conversation_id, stage)
                pipe.zadd(key, {message_id: 0})
                pipe.expire(key, TTL_SECONDS)
            added += 1
        pipe.set(INTACT_KEY, "1")
        pipe.execute()
        return added


def _text(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else str(member)
