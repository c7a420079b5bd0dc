"""A handler for tests: counts each application of an event (``$inc`` per id, so a duplicate
shows as 2), and fails the events whose data asks for it while its switch is on."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from pymongo.database import Database

from consumers.handler import Event


class CountingHandler:
    """``ledger`` is None: the runtime keeps its processed-id records."""

    name: ClassVar[str] = "counting"
    events: ClassVar[tuple[str, ...]] = ("test.*",)
    ledger: ClassVar[str | None] = None
    collection: ClassVar[str] = f"test_counts_{uuid.uuid4().hex[:8]}"

    @classmethod
    def fresh(cls) -> type[CountingHandler]:
        """A class of its own, counting in a collection of its own: one per test."""
        return type(cls.__name__, (cls,), {"collection": f"test_counts_{uuid.uuid4().hex[:8]}"})

    def __init__(self, db: Database[Any]) -> None:
        self._db = db
        self.counts = db[self.collection]

    @classmethod
    def breaking(cls, db: Database[Any], broken: bool) -> None:
        """Switch the failure of events carrying ``data.fail`` on or off."""
        db[cls.collection + "_switch"].update_one(
            {"_id": "switch"}, {"$set": {"broken": broken}}, upsert=True
        )

    def handle(self, event: Event) -> None:
        switch = self._db[self.collection + "_switch"].find_one({"_id": "switch"}) or {}
        if event["data"].get("fail") and switch.get("broken", True):
            self.counts.update_one(
                {"_id": "failures:" + event["id"]}, {"$inc": {"tries": 1}}, upsert=True
            )
            raise RuntimeError(f"cannot take event {event['data']['n']}")
        self.counts.update_one({"_id": event["id"]}, {"$inc": {"applications": 1}}, upsert=True)

    def forget(self, key: str) -> None:
        self.counts.update_one({"_id": "forgotten:" + key}, {"$inc": {"times": 1}}, upsert=True)

    def forgotten(self) -> dict[str, int]:
        return {
            doc["_id"].removeprefix("forgotten:"): doc["times"]
            for doc in self.counts.find({"_id": {"$regex": "^forgotten:"}})
        }

    def applications(self) -> dict[str, int]:
        return {
            doc["_id"]: doc["applications"]
            for doc in self.counts.find({"applications": {"$exists": True}})
        }
