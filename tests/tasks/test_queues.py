"""Every Celery queue Parley declares carries tasks, and every route leads to one of them."""

from __future__ import annotations

import importlib
from fnmatch import fnmatchcase

import celeryconfig
from tasks.app import app
from tasks.queues import QUEUES


def _task_names() -> set[str]:
    for module in app.conf.include:
        importlib.import_module(module)
    return {name for name in app.tasks if name.startswith("parley.")}


def test_every_route_names_a_declared_queue_and_matches_a_task() -> None:
    names = _task_names()
    for pattern, route in celeryconfig.task_routes.items():
        assert route["queue"] in QUEUES, pattern
        assert any(fnmatchcase(name, pattern) for name in names), f"{pattern} routes no task"


def test_every_queue_has_a_task_routed_to_it() -> None:
    names = _task_names()
    served = {
        route["queue"]
        for pattern, route in celeryconfig.task_routes.items()
        if any(fnmatchcase(name, pattern) for name in names)
    }
    # A queue no task is routed to only costs a worker that waits for ever.
    assert served == set(QUEUES)
    assert {queue.name for queue in celeryconfig.task_queues} == set(QUEUES)
