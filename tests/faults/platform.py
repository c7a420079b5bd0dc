"""The whole platform as real processes (engine, a worker per queue, beat, ingress) that a fault
can kill, stop and start again by name."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from processes import ROOT, ProcessGroup, wait_http_ok

from core.stages import NAMES
from services.devstack import process
from tasks.queues import QUEUES

CHAIN_QUEUES = NAMES
ALL_QUEUES = tuple(QUEUES)  # the chain's queues plus webhooks and maintenance


class FaultPlatform(ProcessGroup):
    """A ProcessGroup that remembers how each process was started, so a fault can restart it.

    Logs are appended across restarts, so one file tells a process's whole story.
    """

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        super().__init__(log_dir)
        self.env = env
        self.commands: dict[str, tuple[str, ...]] = {}
        self.extra_env: dict[str, dict[str, str]] = {}
        self.crashes: list[tuple[float, str, int]] = []  # (when, name, exit code)
        self._held: set[str] = set()  # kept down on purpose by a fault: not restarted
        self._lock = threading.RLock()
        self._supervising = threading.Event()
        self._supervisor: threading.Thread | None = None

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.commands[name] = args
        self.extra_env[name] = env or {}
        with self._lock:
            self._spawn(name)

    def supervise(self) -> None:
        """Restart any process that exits on its own, as compose's ``restart: unless-stopped``
        and ``parley run`` do; each such crash is kept in ``crashes``."""
        self._supervising.set()
        self._supervisor = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._supervisor.start()

    def _watch(self) -> None:
        while self._supervising.is_set():
            with self._lock:
                for name, child in list(self.children.items()):
                    code = child.poll()
                    if code is not None and name not in self._held:
                        self.crashes.append((time.monotonic(), name, code))
                        self._spawn(name)
            time.sleep(0.5)

    def stop(self, name: str | None = None, timeout: float = 20.0) -> None:
        if name is None and self._supervisor is not None:
            self._supervising.clear()
            self._supervisor.join(timeout=10)
        super().stop(name, timeout)

    def _spawn(self, name: str) -> None:
        with self.log_file(name).open("ab") as log:
            log.write(f"\n--- start {time.strftime('%H:%M:%S')} ---\n".encode())
        self.children[name] = process.launch(
            [sys.executable, "-m", "cli", *self.commands[name]],
            self.log_file(name),
            env={**self.env, **self.extra_env[name]},
            cwd=ROOT,
        )

    def restart(self, name: str) -> None:
        """Start a process that a fault killed or stopped, with its original arguments."""
        with self._lock:
            child = self.children.get(name)
            if child is not None and child.poll() is None:
                raise RuntimeError(f"{name} is still running")
            self._spawn(name)
            self._held.discard(name)

    def kill_tree(self, name: str) -> int:
        """``kill -9`` a process and everything in its session (held down until ``restart``);
        returns the main pid."""
        with self._lock:
            self._held.add(name)
            child = self.children[name]
        process.signal_group(child, signal.SIGKILL)
        child.wait(timeout=10)
        return child.pid

    def stop_one(self, name: str) -> None:
        """A graceful stop of one process (held down until ``restart``)."""
        with self._lock:
            self._held.add(name)
            child = self.children[name]
        process.stop([child])

    def pool_children(self, name: str) -> list[psutil.Process]:
        """A worker's pool processes (prefork); a thread-pool worker has none."""
        try:
            return psutil.Process(self.children[name].pid).children()
        except psutil.NoSuchProcess:
            return []


@contextmanager
def running_platform(
    log_dir: Path, engine_port: int, ingress_port: int, env: dict[str, str]
) -> Iterator[tuple[str, FaultPlatform]]:
    """Engine, one worker per queue (pools as in ``tasks.queues``), beat and the ingress."""
    log_dir.mkdir(parents=True, exist_ok=True)
    platform = FaultPlatform(log_dir, env)
    try:
        platform.start("engine", "engine", "--port", str(engine_port))
        for queue in ALL_QUEUES:
            platform.start(f"worker-{queue}", "worker", queue)
        # Beat keeps its schedule file under PARLEY_HOME: ours, not the one of a `make run`.
        platform.start("beat", "beat", env={"PARLEY_HOME": str(log_dir / "home")})
        platform.start("ingress", "ingress", "--port", str(ingress_port))
        base = f"http://127.0.0.1:{ingress_port}"
        wait_http_ok(f"{base}/health/ready", platform, timeout=90)
        wait_for_workers(platform, ALL_QUEUES)
        platform.supervise()
        yield base, platform
    finally:
        platform.stop()


def wait_for_workers(platform: FaultPlatform, queues: tuple[str, ...], timeout: float = 90) -> None:
    from tasks.app import app as celery_app

    deadline = time.monotonic() + timeout
    names: set[str] = set()
    while time.monotonic() < deadline:
        platform.assert_running()
        # A connection of its own each time: a pooled one may predate a Redis restart.
        with celery_app.connection_for_write() as connection:
            replies = celery_app.control.ping(timeout=1.0, connection=connection) or []
        names = {name.split("@")[0] for reply in replies for name in reply}
        if names >= set(queues):
            return
    raise AssertionError(f"workers did not answer a ping: only {sorted(names)}")


def task_executions(queues: tuple[str, ...] = CHAIN_QUEUES, timeout: float = 5.0) -> int | None:
    """Tasks the queues' workers ran since they started (Celery's ``stats()`` ``total``, which
    counts every execution: a retry, a wait or a re-queue is one more), or None when a worker
    did not answer."""
    from tasks.app import app as celery_app

    with celery_app.connection_for_write() as connection:
        inspect = celery_app.control.inspect(
            timeout=timeout, connection=connection, limit=len(ALL_QUEUES)
        )
        replies = inspect.stats() or {}
    totals = {name.split("@")[0]: stats.get("total", {}) for name, stats in replies.items()}
    if not set(queues) <= set(totals):
        return None
    return sum(sum(totals[queue].values()) for queue in queues)
