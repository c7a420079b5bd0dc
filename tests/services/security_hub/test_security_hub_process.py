"""`python -m services.security_hub` serves real gRPC over the settings' database and stops on
SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from testenv import free_port

from protos.security_hub_client import SecurityHubClient
from storage.credentials import ApiKeyRepository

ROOT = Path(__file__).resolve().parents[3]
START_SECONDS = 15.0
TIMEOUT = 5.0


@pytest.fixture
def hub_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.security_hub", "--port", str(port)],
        cwd=ROOT,
        env=dict(os.environ),  # the test run's database and JWT secret
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, f"127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def wait_until_serving(client: SecurityHubClient, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not client.is_serving(timeout=0.5):
        assert process.poll() is None, "the hub exited during start-up"
        assert time.monotonic() < deadline, "the hub did not report SERVING in time"
        time.sleep(0.05)


def test_the_hub_process_validates_keys_from_the_database_and_stops_on_sigterm(
    hub_process: tuple[subprocess.Popen[str], str], keys: ApiKeyRepository, tenant: str
) -> None:
    process, addr = hub_process
    doc, plaintext = keys.issue(tenant, "ci", ["messages:read"])
    client = SecurityHubClient(addr)
    try:
        wait_until_serving(client, process)

        info = client.validate_token(plaintext, TIMEOUT)

        assert info is not None
        assert (info.tenant_id, info.subject) == (tenant, doc["_id"])
        assert client.check_permission(tenant, doc["_id"], "messages:read", "", TIMEOUT) is True
    finally:
        client.close()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert "Security Hub stopping" in stderr
    assert plaintext not in stderr


def test_the_hub_process_refuses_to_start_without_a_jwt_secret() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.security_hub", "--port", str(free_port())],
        cwd=ROOT,
        env={**os.environ, "PARLEY_JWT_SECRET": "short"},
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )

    assert done.returncode == 1
    assert "security hub: PARLEY_JWT_SECRET must be at least 32 characters" in done.stderr
