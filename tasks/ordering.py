"""Per-conversation order: a turn waits while an earlier turn of its conversation has not
passed the same stage. The Redis index answers fast; MongoDB, read by ``_id``, has the last word
on whether an earlier turn is really unfinished, and is what the index is rebuilt from when Redis
lost it (see storage/turn_order.py)."""

from __future__ import annotations

import logging
from collections.abc import Collection

from core.states import Status
from storage.messages import Message
from storage.turn_order import OrderIndexLost
from tasks.runtime import WorkerClients

log = logging.getLogger("parley.tasks.ordering")

# More stale entries than this in a row means the index is off; trust MongoDB and go on.
MAX_STALE = 50


def earlier_unfinished(
    c: WorkerClients, message: Message, stage: str, unfinished: Collection[Status]
) -> str | None:
    """The id of an earlier turn still in one of ``unfinished`` statuses, or None."""
    tenant_id, conversation_id = message["tenant_id"], message["conversation_id"]
    for _ in range(MAX_STALE):
        try:
            earlier = c.order.earlier(tenant_id, conversation_id, stage, message["_id"])
        except OrderIndexLost:
            rebuilt = c.order.rebuild(c.messages.turns_in_flight())
            log.warning("the turn order index was lost; rebuilt it with %d turn(s)", rebuilt)
            # Lost again at once: OrderIndexLost is transient, so the stage is retried.
            earlier = c.order.earlier(tenant_id, conversation_id, stage, message["_id"])
        if earlier is None:
            return None
        doc = c.messages.find(tenant_id, earlier)
        if doc is not None and doc["status"] in {status.value for status in unfinished}:
            return earlier
        c.order.passed(tenant_id, conversation_id, earlier, stage)  # stale: it moved on
    return None
