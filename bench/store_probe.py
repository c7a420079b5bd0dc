"""What one round trip to each store costs right now: the yardstick for R1 and R2.

Parley's source of truth is MongoDB (here FerretDB v1, on SQLite or PostgreSQL) and its
baselines touch only Redis, so the ratio R1 and R2 can reach is set by what a MongoDB write
costs against a Redis ``LPUSH``. The probe times, on a scratch collection, single round trips
(p50) and what 16 threads get through per second, and records them with the figures.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from pymongo import MongoClient

from bench.stats import percentile

ROUNDS = 200
THREADS = 16


def _latency_ms(op: Callable[[int], Any]) -> float:
    times = []
    for i in range(ROUNDS):
        started = time.perf_counter()
        op(i)
        times.append((time.perf_counter() - started) * 1000)
    return round(percentile(times, 50), 3)


def _per_second(op: Callable[[int], Any]) -> float:
    per_thread = ROUNDS // THREADS * 2

    def work(k: int) -> None:
        for i in range(per_thread):
            op(10_000 * (k + 1) + i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return round(THREADS * per_thread / (time.perf_counter() - started))


def probe(mongo: MongoClient[Any], database: str, redis_url: str) -> dict[str, float]:
    collection = mongo[database]["probe"]
    client = redis.Redis.from_url(redis_url)
    body = "x" * 400
    key = "parley-bench:probe"
    try:
        return {
            "mongo_insert_p50_ms": _latency_ms(
                lambda i: collection.insert_one({"_id": f"a{i}", "v": body})
            ),
            "mongo_find_by_id_p50_ms": _latency_ms(lambda i: collection.find_one({"_id": f"a{i}"})),
            "mongo_update_by_id_p50_ms": _latency_ms(
                lambda i: collection.update_one({"_id": f"a{i}"}, {"$set": {"n": i}})
            ),
            "redis_lpush_p50_ms": _latency_ms(lambda i: client.lpush(key, body)),
            "mongo_inserts_per_second_16_threads": _per_second(
                lambda i: collection.insert_one({"_id": f"b{i}", "v": body})
            ),
            "redis_lpushes_per_second_16_threads": _per_second(lambda i: client.lpush(key, body)),
        }
    finally:
        client.delete(key)
        client.close()
        mongo.drop_database(database)
