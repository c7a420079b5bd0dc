"""What each retention run deleted, per tenant: the compliance report's "retention applied".

One document per run and tenant (``storage/retention.py`` writes them), kept as long as the
admin audit trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from core.ids import new_id

COLLECTION = "retention_runs"


class RetentionRuns:
    def __init__(self, db: Database[Any]) -> None:
        self._collection: Collection[Any] = db[COLLECTION]

    def record(self, at: datetime, deleted: dict[str, dict[str, int]]) -> None:
        """``deleted``: tenant id → store → rows deleted, for one run at ``at``."""
        run_id = new_id("ret")
        docs = [
            {"_id": new_id("retr"), "run_id": run_id, "tenant_id": t, "at": at, "deleted": counts}
            for t, counts in deleted.items()
        ]
        if docs:
            self._collection.insert_many(docs)

    def totals(
        self, tenant_id: str, since: datetime, until: datetime
    ) -> tuple[int, dict[str, int]]:
        """(runs, store → rows deleted) of the tenant's runs in the period."""
        runs, totals = 0, dict[str, int]()
        found = self._collection.find(
            {"tenant_id": tenant_id, "at": {"$gte": since, "$lt": until}}, {"deleted": 1}
        )
        for doc in found:
            runs += 1
            for store, count in doc.get("deleted", {}).items():
                totals[store] = totals.get(store, 0) + int(count)
        return runs, totals
