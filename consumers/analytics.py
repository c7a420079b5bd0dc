"""The ``analytics`` handler: each counted event becomes one fact in ``analytics_facts``.

Its effect is its own ledger (consumers/apply.py): the fact's ``_id`` is
``analytics:<event id>`` and it is inserted by one upsert, so a redelivered event finds its
fact and counts nothing twice (docs/analytics.md). Reports aggregate the facts when read
(storage/analytics.py). A tombstone deletes the erased conversation's facts.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pymongo.database import Database

from consumers.handler import Event
from storage.analytics import FACTS_COLLECTION, AnalyticsRepository
from storage.analytics_facts import HANDLER, FactBuilder


class Analytics:
    name: ClassVar[str] = HANDLER
    events: ClassVar[tuple[str, ...]] = ("chat.message.*", "chat.conversation.*", "system.error")
    ledger: ClassVar[str | None] = FACTS_COLLECTION

    def __init__(self, db: Database[Any]) -> None:
        self._facts = AnalyticsRepository(db)
        self._builder = FactBuilder(db)

    def handle(self, event: Event) -> None:
        fact = self._builder.fact_of(event)
        if fact is not None:  # an event not counted (chat.conversation.updated ...) leaves none
            self._facts.record(fact)

    def forget(self, key: str) -> None:
        self._facts.forget(key)
