"""`parley run` starts one worker per queue and one event consumer per registered handler."""

from __future__ import annotations

import sys

from cli.platform import _commands
from consumers.registry import HANDLERS
from tasks.queues import QUEUES


def test_parley_run_starts_a_consumer_for_every_handler_beside_the_workers() -> None:
    commands = _commands(8000)
    parley = [sys.executable, "-m", "cli"]
    for queue in QUEUES:
        assert commands[f"worker-{queue}"] == [*parley, "worker", queue]
    assert HANDLERS
    for handler in HANDLERS:
        assert commands[f"consume-{handler}"] == [*parley, "consume", handler]
