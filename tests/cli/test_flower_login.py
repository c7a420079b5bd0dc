"""`parley flower` behind a login: a real Flower and a real worker on the test broker."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis
from processes import ROOT, process_group
from testenv import free_port


def _wait_for_worker(base: str, auth: tuple[str, str], timeout: float = 90.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(
                f"{base}/api/workers", params={"refresh": "1"}, auth=auth, timeout=10
            )
            if answer.status_code == 200 and any(
                name.startswith("webhooks@") for name in answer.json()
            ):
                workers: dict[str, object] = answer.json()
                return workers
            last = f"{answer.status_code} {answer.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise AssertionError(f"Flower never listed the webhooks worker: {last}")


def test_flower_asks_for_its_login_and_then_lists_the_worker(
    tmp_path: Path, broker: redis.Redis
) -> None:
    port = free_port()
    password = secrets.token_urlsafe(16)
    env = {**os.environ, "PARLEY_FLOWER_BASIC_AUTH": f"ops:{password}"}
    base = f"http://127.0.0.1:{port}"
    with process_group(tmp_path) as group:
        group.start("worker-webhooks", "worker", "webhooks", "--concurrency", "1")
        group.start("flower", "flower", "--port", str(port), env=env)
        deadline = time.monotonic() + 60
        while True:
            group.assert_running()
            try:
                health = httpx.get(f"{base}/healthcheck", timeout=3)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        assert health.status_code == 200  # the compose health check needs no login
        # Prometheus scrapes /metrics without the login too (docs/operations.md).
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 200

        assert httpx.get(f"{base}/api/workers", timeout=10).status_code == 401
        assert httpx.get(f"{base}/", timeout=10).status_code == 401
        wrong = httpx.get(f"{base}/api/workers", auth=("ops", "not-it"), timeout=10)
        assert wrong.status_code == 401

        workers = _wait_for_worker(base, ("ops", password))
        assert any(name.startswith("webhooks@") for name in workers)
        # The login never reaches the command line, where `ps` would show it.
        assert password not in Path(f"/proc/{group.children['flower'].pid}/cmdline").read_text()
        group.assert_running()


def test_flower_does_not_start_without_a_login(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PARLEY_FLOWER_BASIC_AUTH"}
    env["PARLEY_HOME"] = str(tmp_path)  # a state folder without a development login
    answer = subprocess.run(
        [sys.executable, "-m", "cli", "flower", "--port", str(free_port())],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert answer.returncode != 0
    assert "PARLEY_FLOWER_BASIC_AUTH must be set" in answer.stderr
