"""Per-conversation sequence numbers of chat events, given when an event is first published.

Every ``chat.*`` event's data carries ``sequence``: 1, 2, 3 … in the order the conversation's
events first went out, so a consumer that sees them out of order (a redelivery, a replay from
the dead-letter topic) knows where each belongs. The number is the event's for good: Redis keeps,
per conversation, the number given to each event id, and a republished event gets the same one.

The record of a conversation lives ``KEEP`` past its last event; a conversation silent for
longer has long been closed as idle (tasks/conversations.py), and any later event of it starts
again at 1, which a consumer reads as a new run of the same conversation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from redis import Redis

from storage.scripts import PipelinedScript

KEY = "parley:seq:{}"
_COUNTER = "#"
KEEP = timedelta(days=30)

# KEYS[1] the conversation's record; ARGV[1] the event id, ARGV[2] the record's lifetime.
_ASSIGN = """
local seq = redis.call('hget', KEYS[1], ARGV[1])
if not seq then
  seq = redis.call('hincrby', KEYS[1], '#', 1)
  redis.call('hset', KEYS[1], ARGV[1], seq)
end
redis.call('expire', KEYS[1], ARGV[2])
return tonumber(seq)
"""


def sequenced(topic: str) -> bool:
    """Whether events of ``topic`` carry a sequence number: the chat events, which are keyed
    by their conversation."""
    return topic.startswith("chat.")


class EventSequencer:
    def __init__(self, redis: Redis) -> None:
        self._assign = PipelinedScript(redis, _ASSIGN)

    def assign(self, events: Sequence[tuple[str, str]]) -> list[int]:
        """The sequence number of each ``(conversation id, event id)``, in order, numbering the
        new ones in the order given; one round trip for the lot."""
        calls = [
            ([sequence_key(conversation)], [event_id, int(KEEP.total_seconds())])
            for conversation, event_id in events
        ]
        return [int(seq) for seq in self._assign.run_all(calls)]


def sequence_key(conversation_id: str) -> str:
    """The Redis hash of a conversation's numbers (erased with the conversation)."""
    return KEY.format(conversation_id)


def with_sequence(value: str, sequence: int) -> str:
    """The structured CloudEvent ``value`` with ``sequence`` in its data."""
    event: dict[str, Any] = json.loads(value)
    event["data"] = {**(event.get("data") or {}), "sequence": sequence}
    return json.dumps(event, separators=(",", ":"))
