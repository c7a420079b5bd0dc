"""``parley ingress`` as a real process behind a proxy: failed authentications count against the
client a trusted proxy names (``PARLEY_FORWARDED_ALLOW_IPS``), and an untrusted one's header is
ignored."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from testenv import free_port

from tests.processes import process_group, wait_http_ok


def statuses(proxy: httpx.Client, forwarded_for: str, count: int) -> list[int]:
    """Answers to ``count`` bad tokens, each a new one (so only the address's count binds)."""
    answers = []
    for _ in range(count):
        headers = {
            "Authorization": f"Bearer not-a-token-{secrets.token_hex(8)}",
            "X-Forwarded-For": forwarded_for,
        }
        answers.append(proxy.get("/v1/messages/msg_x", headers=headers).status_code)
    return answers


def loopback_address() -> str:
    """A loopback address of this test's own to connect from, standing for the proxy."""
    return f"127.{secrets.randbelow(250) + 2}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def documentation_address() -> str:
    """A fresh client address (IPv6 documentation prefix), so no earlier run's failures count."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted-proxy", "untrusted-proxy"])
def test_failures_count_against_the_client_a_trusted_proxy_names(
    trusted: bool, tmp_path: Path, db: Any, broker: Any
) -> None:
    port, proxy_address = free_port(), loopback_address()
    env = {
        "PARLEY_FORWARDED_ALLOW_IPS": proxy_address if trusted else "192.0.2.7",
        "PARLEY_AUTH_FAILURE_BURST": "2",
        "PARLEY_AUTH_FAILURE_PER_SECOND": "0.01",
    }
    with process_group(tmp_path) as group:
        group.start("ingress", "ingress", "--port", str(port), env=env)
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{base}/health/live", group)
        transport = httpx.HTTPTransport(local_address=proxy_address)
        with httpx.Client(base_url=base, transport=transport, timeout=10) as proxy:
            assert statuses(proxy, documentation_address(), 3) == [401, 401, 429]
            # Another client behind the same proxy has an allowance of its own only if the
            # proxy is trusted; else both are the proxy's address.
            assert statuses(proxy, documentation_address(), 1) == ([401] if trusted else [429])
