"""storage.round_trips counts each command the real Redis and MongoDB-wire server answer, in the
scope that sent it and every scope around it, and nothing outside a scope."""

from __future__ import annotations

import contextvars
import threading
from typing import Any

from pymongo.database import Database
from redis import Redis

from core.settings import Settings
from storage.round_trips import counted_redis, counting


def test_each_command_counts_once_in_its_scope_and_the_scopes_around_it(
    db: Database[Any], settings: Settings
) -> None:
    client = counted_redis(Redis.from_url(settings.redis_url))
    try:
        client.ping()  # outside any scope: not counted anywhere
        with counting() as outer:
            db["round_trips"].insert_one({"n": 1})
            with counting() as inner:
                db["round_trips"].find_one({"n": 1})
                pipe = client.pipeline(transaction=False)
                pipe.set("parley-test:round-trips", 1)
                pipe.get("parley-test:round-trips")
                pipe.execute()  # a pipeline is one round trip
            client.delete("parley-test:round-trips")
    finally:
        client.close()
    assert (inner.mongo, inner.mongo_commands) == (1, ["find round_trips"])
    assert (inner.redis, inner.redis_commands) == (1, ["SET"])
    assert (outer.mongo, outer.mongo_commands) == (2, ["insert round_trips", "find round_trips"])
    assert (outer.redis, outer.redis_commands) == (2, ["SET", "DEL"])


def test_a_new_connections_handshake_is_not_a_round_trip_of_the_scope(settings: Settings) -> None:
    client = counted_redis(Redis.from_url(settings.redis_url))
    try:
        with counting() as tally:
            client.get("parley-test:round-trips")  # connects first: HELLO/CLIENT/SELECT
    finally:
        client.close()
    assert (tally.redis, tally.redis_commands) == (1, ["GET"])


def test_a_thread_given_the_scopes_context_counts_into_it(db: Database[Any]) -> None:
    with counting() as tally:
        context = contextvars.copy_context()
        worker = threading.Thread(target=context.run, args=(db["round_trips"].count_documents, {}))
        worker.start()
        worker.join()
        stray = threading.Thread(target=db["round_trips"].count_documents, args=({},))
        stray.start()  # a thread of its own context: outside the scope
        stray.join()
    assert (tally.mongo, tally.mongo_commands) == (1, ["aggregate round_trips"])
