"""Install, start, stop and inspect Parley's local services: Redis, MongoDB (FerretDB), Kafka,
and ClamAV's clamd (the media processor's virus scanner); PostgreSQL too when FerretDB runs on
it (the ``ferretdb_handler`` setting, ``services/devstack/mongo.py``).

Everything listens on 127.0.0.1 and lives under ``.parley/`` at the repository root (or
``PARLEY_HOME``): ``bin/``, ``build/``, ``data/<service>/``, ``kafka/``, ``logs/``, ``run/``.
``up`` and ``down`` are idempotent and serialised by a lock file, so two terminals cannot
start the same service twice.

    up(["redis"])     # start what is missing, wait until it answers
    up()              # every service FerretDB's handler needs: postgres only on "postgresql"
    status()          # "up" (ours), "down", or "external" (answers, but we did not start it)
    down()            # stop only what ``up`` started, newest first
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from services.devstack import clamav, kafka, mongo, paths, postgres, redis
from services.devstack.errors import DevstackError
from services.devstack.process import ManagedProcess
from services.devstack.service import (
    Service,
    ServiceState,
    ServiceStatus,
    bring_down,
    bring_up,
    current_status,
)

__all__ = [
    "SERVICE_NAMES",
    "DevstackError",
    "ManagedProcess",
    "ServiceState",
    "ServiceStatus",
    "default_names",
    "down",
    "status",
    "up",
]

# Start order; ``down`` walks it backwards.
_SERVICES: dict[str, Callable[[], Service]] = {
    "redis": redis.service,
    "postgres": postgres.service,
    "mongo": mongo.service,
    "kafka": kafka.service,
    "clamav": clamav.service,
}
SERVICE_NAMES: tuple[str, ...] = tuple(_SERVICES)


def default_names() -> tuple[str, ...]:
    """The services ``up``, ``down`` and ``status`` mean when given none: PostgreSQL only when
    our FerretDB runs on it."""
    return tuple(n for n in SERVICE_NAMES if n != "postgres" or mongo.needs_postgres())


def up(names: Sequence[str] | None = None) -> list[ServiceStatus]:
    """Start the named services (the default ones when None) that are not answering; wait for
    each. Naming ``mongo`` on the PostgreSQL handler starts ``postgres`` before it."""
    with _lock():
        return [bring_up(service) for service in _select(names)]


def down(names: Sequence[str] | None = None) -> list[ServiceStatus]:
    """Stop the named services that ``up`` started; external ones are left running."""
    with _lock():
        stopped = [bring_down(service) for service in reversed(_select(names))]
    return stopped[::-1]


def status(names: Sequence[str] | None = None) -> list[ServiceStatus]:
    """How each named service is right now; starts and stops nothing."""
    return [current_status(service) for service in _select(names)]


def _select(names: Sequence[str] | None) -> list[Service]:
    wanted = set(default_names() if names is None else names)
    unknown = wanted - set(SERVICE_NAMES)
    if unknown:
        raise DevstackError(
            f"unknown service(s) {', '.join(sorted(unknown))}; known: {', '.join(SERVICE_NAMES)}"
        )
    if "mongo" in wanted and mongo.needs_postgres():
        wanted.add("postgres")
    return [factory() for name, factory in _SERVICES.items() if name in wanted]


@contextmanager
def _lock() -> Iterator[None]:
    path = paths.ensure_dir(paths.run_dir()) / "devstack.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
