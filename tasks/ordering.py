"""Per-conversation order: a turn waits while an earlier turn of its conversation has not
passed the same stage. The Redis index answers fast; MongoDB, read by ``_id``, has the last word
on whether an earlier turn is really unfinished."""

from __future__ import annotations

from collections.abc import Collection

from core.states import Status
from storage.messages import Message
from tasks.runtime import WorkerClients

# More stale entries than this in a row means the index is off; trust MongoDB and go on.
MAX_STALE = 50


def earlier_unfinished(
    c: WorkerClients, message: Message, stage: str, unfinished: Collection[Status]
) -> str | None:
    """The id of an earlier turn still in one of ``unfinished`` statuses, or None."""
    tenant_id, conversation_id = message["tenant_id"], message["conversation_id"]
    for _ in range(MAX_STALE):
        earlier = c.order.earlier(tenant_id, conversation_id, stage, message["_id"])
        if earlier is None:
            return None
        doc = c.messages.find(tenant_id, earlier)
        if doc is not None and doc["status"] in {status.value for status in unfinished}:
            return earlier
        c.order.passed(tenant_id, conversation_id, earlier, stage)  # stale: it moved on
    return None
