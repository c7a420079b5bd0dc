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
    if queue_length(broker, queue) > look_at_most:
        return False
    for suffix in PRIORITY_SUFFIXES:
        for raw in broker.lrange(f"{queue}{suffix}", 0, look_at_most):
            if marker not in raw:
                return False
    return True
