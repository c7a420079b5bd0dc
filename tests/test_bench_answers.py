"""The bench's provider fake counts a burst's reply for every message it answered
(bench/loadgen.py): which messages a reply answered is read from the store, as Parley wrote it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pymongo.database import Database

from bench.loadgen import Answers, Deliveries
from core.settings import Settings


def _quote(wamid: str) -> bytes:
    return json.dumps({"to": "1555", "context": {"message_id": wamid}}).encode()


def _store(db: Database[Any], run: str) -> None:
    inbound = [
        {"_id": f"{run}-m{n}", "direction": "inbound", "provider_message_id": f"wamid.{run}{n}"}
        for n in range(4)
    ]
    for doc in inbound[:3]:  # the first three answered by the first's reply, the fourth alone
        doc["reply_id"] = f"{run}-m0.r"
    inbound[3]["reply_id"] = f"{run}-m3.r"
    db["messages"].insert_many(
        [
            *inbound,
            {
                "_id": f"{run}-m0.r",
                "direction": "outbound",
                "answers": [f"{run}-m0", f"{run}-m1", f"{run}-m2"],
            },
            {"_id": f"{run}-m3.r", "direction": "outbound", "answers": [f"{run}-m3"]},
        ]
    )


def test_a_burst_reply_counts_for_each_message_it_answered_at_its_time(
    db: Database[Any], settings: Settings
) -> None:
    run = "burst1"
    _store(db, run)
    answers = Answers(settings.mongo_url, db.name)
    deliveries = Deliveries(answers)

    async def scenario() -> None:
        await deliveries.handle("/messages", _quote(f"wamid.{run}0"))
        await deliveries.handle("/messages", _quote(f"wamid.{run}3"))
        await deliveries.credit()

    try:
        asyncio.run(scenario())
    finally:
        answers.close()

    wamids = [f"wamid.{run}{n}" for n in range(4)]
    assert deliveries.order == [wamids[0], wamids[3], wamids[1], wamids[2]]
    assert deliveries.at[wamids[1]] == deliveries.at[wamids[2]] == deliveries.at[wamids[0]]
    assert (deliveries.together, deliveries.duplicates) == (2, 0)


def test_a_message_answered_by_a_burst_and_by_its_own_reply_is_a_duplicate(
    db: Database[Any], settings: Settings
) -> None:
    run = "burst2"
    _store(db, run)
    answers = Answers(settings.mongo_url, db.name)
    deliveries = Deliveries(answers)

    async def scenario() -> None:
        await deliveries.handle("/messages", _quote(f"wamid.{run}1"))  # a reply of its own
        await deliveries.handle("/messages", _quote(f"wamid.{run}0"))  # ... and the burst's
        await deliveries.credit()

    try:
        asyncio.run(scenario())
    finally:
        answers.close()

    assert deliveries.duplicates == 1
    assert deliveries.together == 1  # m2; m1 had been answered already


def test_without_a_store_a_reply_counts_for_the_message_it_quotes_only() -> None:
    deliveries = Deliveries()

    async def scenario() -> None:
        await deliveries.handle("/messages", _quote("wamid.bare0"))
        await deliveries.credit()

    asyncio.run(scenario())

    assert deliveries.order == ["wamid.bare0"]
    assert deliveries.together == 0
