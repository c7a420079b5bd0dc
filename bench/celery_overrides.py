"""Runs one of Parley's processes with a benchmark's Celery settings laid over ``celeryconfig``'s
(R4's Celery defaults, R5's task events off), so the production config holds no benchmark code:
``python -m bench.celery_overrides '{"task_acks_late": false}' worker deliver``.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def command(argv: list[str], overrides: dict[str, Any]) -> list[str]:
    """The ``python -m cli ...`` command ``argv``, run with ``overrides``."""
    if argv[:2] != ["-m", "cli"]:
        raise ValueError(f"not a parley command: {argv}")
    return ["-m", __name__, json.dumps(overrides), *argv[2:]]


def apply(overrides: dict[str, Any]) -> None:
    """Lay ``overrides`` over the Celery app's settings, before any task is bound to it."""
    from tasks.app import app

    app.conf.update(overrides)


def main(argv: list[str]) -> int:
    apply(json.loads(argv[0]))
    from cli.main import main as parley

    return parley(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
