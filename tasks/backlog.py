"""What waits in a stage's broker queue, read straight from kombu's Redis lists.

Kombu's Redis transport keeps a queue as a Redis list (``LPUSH`` to publish, ``BRPOP`` to
consume, so the next task to run is at the right end) and a prioritised message in a sibling
list per priority step. Each message is JSON whose headers carry ``argsrepr``, the repr of the
task's arguments; every Parley stage takes ``(tenant_id, message_id)``.
"""

from __future__ import annotations

from redis import Redis

PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def queue_length(broker: Redis, queue: str) -> int:
    """Messages waiting in ``queue``, all priorities (tasks a worker has reserved excluded)."""
    return sum(int(broker.llen(f"{queue}{suffix}")) for suffix in PRIORITY_SUFFIXES)


def only_tenant_waiting(broker: Redis, queue: str, tenant_id: str, look_at_most: int) -> bool:
    """True when every message waiting in ``queue`` is ``tenant_id``'s and there are at most
    ``look_at_most`` of them. Any doubt answers False: a longer queue, or a message whose
    arguments do not plainly start with this tenant (another tenant's, or an id that repr
    quotes differently)."""
    marker = f'"argsrepr": "(\'{tenant_id}\', '.encode()
    pipe = broker.pipeline(transaction=False)  # one round trip for every priority's list
    for suffix in PRIORITY_SUFFIXES:
        pipe.lrange(f"{queue}{suffix}", 0, look_at_most)  # one more than allowed, if there is
    waiting = [raw for listed in pipe.execute() for raw in listed]
    return len(waiting) <= look_at_most and all(marker in raw for raw in waiting)
