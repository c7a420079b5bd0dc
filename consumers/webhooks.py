"""The ``webhooks`` handler: every event fanned out to the tenant's webhook subscriptions.

``tasks.webhooks.fan_out`` does the work (one delivery per matching subscription, its first
attempt queued on the ``webhooks`` queue); it is idempotent by event id, so the runtime's
processed-id record after it (``ledger`` None) suffices: an event applied twice after a crash
creates no second delivery. A tombstone deletes the erased conversation's deliveries.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pymongo.database import Database

from consumers.handler import Event
from core.settings import get_settings
from storage.wiring import Storage
from tasks.webhooks import fan_out

REDIS_TIMEOUT_SECONDS = 2.0


class Webhooks:
    name: ClassVar[str] = "webhooks"
    # Whatever a subscription may name (core/event_types.py); fan_out finds who wants it.
    events: ClassVar[tuple[str, ...]] = ("chat.*", "system.*", "integration.*")
    ledger: ClassVar[str | None] = None

    def __init__(self, db: Database[Any]) -> None:
        self._db = db
        self._storage: Storage | None = None

    def _clients(self) -> Storage:
        if self._storage is None:  # built in the consumer's process, on its first event
            self._storage = Storage(get_settings(), redis_timeout_seconds=REDIS_TIMEOUT_SECONDS)
        return self._storage

    def handle(self, event: Event) -> None:
        fan_out(event, self._clients())

    def forget(self, key: str) -> None:
        self._db["webhook_deliveries"].delete_many({"conversation_id": key})
