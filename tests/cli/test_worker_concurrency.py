"""A queue's worker concurrency: ``parley worker --concurrency`` over ``PARLEY_WORKER_CONCURRENCY``
over the queue's default, the setting refused by name when wrong, and a real worker's pool as
sized."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from core.queue_names import QUEUE_NAMES
from core.settings import Settings
from tasks.queues import QUEUES, worker_concurrency
from tests.processes import process_group, run_parley


def test_every_queue_has_a_name_the_setting_knows() -> None:
    assert sorted(QUEUES) == sorted(QUEUE_NAMES)


def test_the_option_wins_over_the_setting_which_wins_over_the_queue_default() -> None:
    settings = Settings(worker_concurrency=" process=3 , generate=12 ")

    assert settings.worker_concurrencies == {"process": 3, "generate": 12}
    assert worker_concurrency("process", settings) == 3
    assert worker_concurrency("process", settings, option=1) == 1
    assert worker_concurrency("deliver", settings) == QUEUES["deliver"].concurrency
    assert worker_concurrency("deliver", Settings()) == QUEUES["deliver"].concurrency


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("proces=2", "unknown queue 'proces'"),
        ("generate=0", "generate='0': the concurrency must be a whole number from 1 to 256"),
        ("generate=eight", "generate='eight'"),
        ("deliver=300", "deliver='300'"),
        ("process=2,process=3", "queue 'process' is given twice"),
        ("process", "'process' must look like QUEUE=N"),
    ],
)
def test_a_bad_concurrency_stops_start_up_naming_the_queue_and_value(
    value: str, named: str
) -> None:
    answer = run_parley("config", PARLEY_WORKER_CONCURRENCY=value)

    assert answer.returncode == 2
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1, answer.stderr  # one clear line, no traceback
    assert "PARLEY_WORKER_CONCURRENCY" in lines[0]
    assert named in lines[0]


@pytest.mark.parametrize("command", ["ingress --workers 0", "worker --concurrency 0 generate"])
def test_a_count_below_one_on_the_command_line_is_refused(command: str) -> None:
    answer = run_parley(*command.split())

    assert answer.returncode == 2
    assert "must be at least 1, got 0" in answer.stderr


def _pool_size(hostname: str, group: Any) -> int:
    from tasks.app import app

    for _ in range(120):
        group.assert_running()
        replies = app.control.inspect(destination=[hostname], timeout=1.0).stats() or {}
        if hostname in replies:
            return int(replies[hostname]["pool"]["max-concurrency"])
        time.sleep(0.5)
    raise AssertionError(f"{hostname} never answered")


@pytest.mark.parametrize(
    ("args", "expected"),
    [((), 3), (("--concurrency", "2"), 2)],
    ids=["setting", "option-over-setting"],
)
def test_a_real_worker_runs_the_pool_the_settings_size(
    args: tuple[str, ...], expected: int, tmp_path: Path, broker: Any
) -> None:
    env = {"PARLEY_WORKER_CONCURRENCY": "generate=3"}
    with process_group(tmp_path) as group:
        group.start("worker", "worker", *args, "generate", "--loglevel=WARNING", env=env)
        assert _pool_size(f"generate@{socket.gethostname()}", group) == expected
