"""A real worker's metrics endpoint: its tasks counted by stage and outcome, summed over its
prefork children."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import process_group, purge_queue
from testenv import free_port

from tasks.app import app

TASK = "parley.maintenance.release_idempotency_keys"
COUNTED = f'parley_tasks_total{{outcome="success",stage="{TASK}"}}'


def _count(text: str) -> float:
    for line in text.splitlines():
        if line.startswith(COUNTED):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_prefork_workers_endpoint_counts_the_tasks_its_children_ran(
    tmp_path: Path, broker: Any
) -> None:
    port = free_port()
    purge_queue("maintenance")  # tasks an earlier test left would be counted with these
    with process_group(tmp_path) as group:
        group.start("worker", "worker", "--metrics-port", str(port), "maintenance")
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            group.assert_running()
            try:
                before = _count(httpx.get(url, timeout=2).text)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"no metrics endpoint:\n{group.log('worker')}")
        for _ in range(3):
            app.send_task(TASK, args=(10,), queue="maintenance")
        counted = before
        while counted < before + 3 and time.monotonic() < deadline:
            time.sleep(0.2)
            counted = _count(httpx.get(url, timeout=2).text)
        text = httpx.get(url, timeout=2).text
    assert counted == before + 3, text[-2000:]
    assert f'parley_task_duration_seconds_count{{stage="{TASK}"}}' in text
