"""`parley run` starts one worker per queue and one event consumer per registered handler."""

from __future__ import annotations

import sys

from cli.platform import _commands, worker_metrics_ports
from consumers.registry import HANDLERS
from tasks.queues import QUEUES


def test_parley_run_starts_a_consumer_for_every_handler_beside_the_workers() -> None:
    commands = _commands(8000)
    parley = [sys.executable, "-m", "cli"]
    ports = worker_metrics_ports()
    assert len(set(ports.values())) == len(QUEUES)  # a metrics port of its own each
    for queue in QUEUES:
        metrics = ["--metrics-port", str(ports[queue])]
        assert commands[f"worker-{queue}"] == [*parley, "worker", *metrics, queue]
    assert HANDLERS
    for handler in HANDLERS:
        assert commands[f"consume-{handler}"] == [*parley, "consume", handler]
