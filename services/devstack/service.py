"""What a local service is (a probe, an optional process, set-up hooks) and how one is brought up.

``bring_up`` decides, in order: configured as external → probe it; our process runs → wait
for it to answer; something else answers on the port → use it as external; otherwise run
``prepare`` (install, build, format), start the process and wait until it answers.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from services.devstack.errors import DevstackError
from services.devstack.process import ManagedProcess

ServiceState = Literal["up", "down", "external"]


@dataclass(frozen=True)
class ServiceStatus:
    """One service now: "up" (ours, answering), "down", or "external" (answering, not ours)."""

    name: str
    state: ServiceState
    detail: str
    pid: int | None = None


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Service:
    """A local service: how to tell it answers and, unless external, how to run it."""

    name: str
    address: str
    answers: Callable[[], bool]
    process: ManagedProcess | None = None  # None: configured to use someone else's
    prepare: Callable[[], None] = _nothing
    after_ready: Callable[[], None] = _nothing
    ready_timeout: float = 30.0


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def current_status(service: Service) -> ServiceStatus:
    """Look, change nothing (apart from dropping a stale pid file)."""
    pid = service.process.pid() if service.process else None
    if pid is not None:
        if service.answers():
            return ServiceStatus(service.name, "up", f"{service.address} pid {pid}", pid)
        return ServiceStatus(
            service.name, "down", f"{service.address} pid {pid} (running, not answering)", pid
        )
    if service.answers():
        return ServiceStatus(service.name, "external", f"{service.address} (not started by us)")
    return ServiceStatus(service.name, "down", f"{service.address} not answering")


def bring_up(service: Service) -> ServiceStatus:
    """Make the service answer, starting our process only when nothing answers yet."""
    process = service.process
    if process is None:
        if not service.answers():
            raise DevstackError(f"{service.name}: external {service.address} does not answer")
    elif process.pid() is not None:
        _wait_until_answers(service, process, stop_on_failure=False)
    elif not service.answers():
        service.prepare()
        # Preparing may have started a system copy (Debian's redis-server package does).
        if not service.answers():
            process.start()
            _wait_until_answers(service, process, stop_on_failure=True)
    service.after_ready()
    return current_status(service)


def bring_down(service: Service) -> ServiceStatus:
    """Stop our process if it runs; a service we did not start is left alone."""
    if service.process is not None:
        service.process.stop()
    return current_status(service)


def _wait_until_answers(
    service: Service, process: ManagedProcess, *, stop_on_failure: bool
) -> None:
    deadline = time.monotonic() + service.ready_timeout
    while not service.answers():
        if process.pid() is None:
            raise DevstackError(
                f"{service.name} exited during start-up; last lines of {process.log_file}:\n"
                f"{process.log_tail()}"
            )
        if time.monotonic() >= deadline:
            tail = process.log_tail()
            if stop_on_failure:
                process.stop()
            raise DevstackError(
                f"{service.name} did not answer on {service.address} within "
                f"{service.ready_timeout:.0f} s; last lines of {process.log_file}:\n{tail}"
            )
        time.sleep(0.2)
