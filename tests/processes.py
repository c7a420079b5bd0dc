"""Starting and stopping real Parley processes (engine, workers, ingress) for tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from core.stages import NAMES
from services.devstack import process

ROOT = Path(__file__).resolve().parents[1]


class ProcessGroup:
    """Child processes, each in its own session so a stop reaches its whole tree."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.children[name] = process.launch(
            [sys.executable, "-m", "cli", *args], self.log_file(name), env=env, cwd=ROOT
        )

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def assert_running(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                raise AssertionError(f"{name} exited with {child.returncode}:\n{self.log(name)}")

    def log(self, name: str, tail: int | None = 4000) -> str:
        text = self.log_file(name).read_text(errors="replace")
        return text if tail is None else text[-tail:]

    def all_logs(self) -> str:
        """Everything every process printed, stopped ones included."""
        return "".join(path.read_text(errors="replace") for path in self.log_dir.glob("*.log"))

    def stop(self, name: str | None = None, timeout: float = 20.0) -> None:
        names = [name] if name else list(self.children)
        process.stop([self.children.pop(each) for each in names], timeout)


@contextmanager
def process_group(log_dir: Path) -> Iterator[ProcessGroup]:
    group = ProcessGroup(log_dir)
    try:
        yield group
    finally:
        group.stop()


def wait_http_ok(url: str, group: ProcessGroup, timeout: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        group.assert_running()
        try:
            response = httpx.get(url, timeout=3)
            # Readiness is 200 while the engine or Kafka still starts ("degraded"): wait for all.
            if response.status_code == 200 and response.json().get("status") != "degraded":
                return response
            last = f"{response.status_code} {response.text}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready within {timeout}s: {last}")


CHAIN_QUEUES = NAMES


@contextmanager
def running_platform(
    log_dir: Path,
    engine_port: int,
    ingress_port: int,
    env: dict[str, str] | None = None,
    *,
    engine: bool = True,
) -> Iterator[tuple[str, ProcessGroup]]:
    """Engine, one ``celery worker`` per chain queue and the ingress, as separate processes.
    ``engine=False`` leaves ``engine_port`` to a gRPC server the test runs itself."""
    with process_group(log_dir) as group:
        if engine:
            group.start("engine", "engine", "--port", str(engine_port), env=env)
        for queue in CHAIN_QUEUES:
            group.start(f"worker-{queue}", "worker", queue, "--concurrency", "1", env=env)
        group.start("ingress", "ingress", "--port", str(ingress_port), env=env)
        base = f"http://127.0.0.1:{ingress_port}"
        wait_http_ok(f"{base}/health/ready", group)
        wait_for_workers(group)
        yield base, group
        group.assert_running()


def wait_for_workers(group: ProcessGroup, timeout: float = 60.0) -> None:
    from tasks.app import app as celery_app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group.assert_running()
        replies = celery_app.control.ping(timeout=1.0) or []
        names = {name.split("@")[0] for reply in replies for name in reply}
        if names >= set(CHAIN_QUEUES):
            return
    raise AssertionError("workers did not answer a ping")


def purge_queue(queue: str) -> int:
    """Drop every task waiting on ``queue`` in the test broker (all its priority lists), so a
    worker a test starts runs only what the test sends; returns how many were dropped."""
    from tasks.app import app

    with app.connection_for_write() as connection:
        return int(connection.default_channel.queue_purge(queue) or 0)


def run_parley(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``parley <args>`` run to its end from the repository, ``env`` over this environment."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
