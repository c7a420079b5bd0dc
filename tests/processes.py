"""Starting and stopping real Parley processes (engine, workers, ingress) for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


class ProcessGroup:
    """Child processes, each in its own session so a stop reaches its whole tree."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        with (self.log_dir / f"{name}.log").open("wb") as log:
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", "core.cli", *args],
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def assert_running(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                raise AssertionError(f"{name} exited with {child.returncode}:\n{self.log(name)}")

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self, name: str | None = None, timeout: float = 20.0) -> None:
        names = [name] if name else list(self.children)
        for each in names:
            child = self.children[each]
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for each in names:
            child = self.children.pop(each)
            try:
                child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


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
            if response.status_code == 200:
                return response
            last = f"{response.status_code} {response.text}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready within {timeout}s: {last}")
