"""A real worker tells its window of task durations as ``system.performance``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from processes import process_group, purge_queue

from storage.telemetry import QUEUE
from tasks.app import app

WINDOW = "0.5"


TASK = "parley.maintenance.release_idempotency_keys"


def _performance(rdb: redis.Redis) -> list[dict[str, Any]]:
    events = [json.loads(value) for value in rdb.lrange(QUEUE, 0, -1)]
    return [
        e
        for e in events
        if e["type"] == "system.performance"
        and TASK in [each["stage"] for each in e["data"]["stages"]]
    ]


def test_a_worker_tells_each_window_of_its_tasks(
    tmp_path: Path, redis_client: redis.Redis, broker: Any
) -> None:
    env = {"PARLEY_PERFORMANCE_WINDOW_SECONDS": WINDOW}
    with process_group(tmp_path) as group:
        group.start("worker", "worker", "maintenance", env=env)
        deadline = time.monotonic() + 60
        told: list[dict[str, Any]] = []
        while not told and time.monotonic() < deadline:
            group.assert_running()
            app.send_task(TASK, args=(10,), queue="maintenance")
            time.sleep(0.3)  # the window closes on the first task after it ends
            told = _performance(redis_client)
        if not told:
            pytest.fail(f"no system.performance from the worker:\n{group.log('worker')}")
    purge_queue("maintenance")  # what the loop sent after the window told, never run
    [first, *_] = told
    [counted] = [each for each in first["data"]["stages"] if each["stage"] == TASK]
    assert counted["count"] >= 1 and counted["failed"] == 0
    assert counted["p50_ms"] is not None and counted["p95_ms"] >= counted["p50_ms"]
    assert first["tenantid"] == "*" and first["data"]["window_seconds"] >= 0
