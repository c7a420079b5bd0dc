"""The webhook client connects only to addresses it checked itself, at connect time."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from channels.webhook_post import WebhookUnreachable, post_signed, webhook_client
from core import addresses
from tasks.webhooks import endpoint_problem
from tests.fakes.webhook_endpoint import WebhookEndpoint

NAME = "hooks.example.test"  # a name no resolver knows: each test says what it resolves to


@pytest.fixture
def endpoint() -> Iterator[WebhookEndpoint]:
    with WebhookEndpoint() as server:
        yield server


def _resolving(monkeypatch: pytest.MonkeyPatch, name: str, address: str) -> None:
    """DNS, as the test wants it to answer for ``name`` (everything else as usual)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_name_that_resolves_to_loopback_at_connect_time_is_never_connected(
    endpoint: WebhookEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolving(monkeypatch, NAME, "93.184.216.34")  # public when the tenant subscribed
    assert endpoint_problem(f"https://{NAME}:{endpoint.port}/hook", allow_private=False) is None
    _resolving(monkeypatch, NAME, "127.0.0.1")  # rebound to Parley's own host since
    with (
        webhook_client(allow_private=False, timeout_seconds=5) as client,
        pytest.raises(WebhookUnreachable, match="private address"),
    ):
        post_signed(client, endpoint.url("/hook", NAME), b"{}", {"webhook-id": "msg_1"})
    assert endpoint.requests == []


def test_localhost_is_refused_without_the_development_setting(
    endpoint: WebhookEndpoint,
) -> None:
    with webhook_client(allow_private=False, timeout_seconds=5) as client:
        for host in ("localhost", "127.0.0.1"):
            with pytest.raises(WebhookUnreachable, match="private address"):
                post_signed(client, endpoint.url("/hook", host), b"{}", {})
    assert endpoint.requests == []


def test_the_checked_address_is_connected_with_the_names_host_header(
    endpoint: WebhookEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolving(monkeypatch, NAME, "127.0.0.1")
    # Loopback counts as public here, so the guard lets the checked address through.
    monkeypatch.setattr(addresses, "is_public", lambda address: address == "127.0.0.1")
    with webhook_client(allow_private=False, timeout_seconds=5) as client:
        answer = post_signed(client, endpoint.url("/hook", NAME), b'{"a":1}', {"webhook-id": "m"})
    assert answer.delivered
    (request,) = endpoint.requests
    assert request.headers["host"] == f"{NAME}:{endpoint.port}"
    assert request.headers["webhook-id"] == "m"
    assert request.headers["content-type"] == "application/json"
    assert request.body == b'{"a":1}'


def test_development_allows_loopback_and_a_3xx_or_5xx_is_not_delivered(
    endpoint: WebhookEndpoint,
) -> None:
    endpoint.answer("/hook", 302, 500)
    with webhook_client(allow_private=True, timeout_seconds=5) as client:
        answers = [post_signed(client, endpoint.url("/hook"), b"{}", {}) for _ in range(3)]
    assert [(a.status_code, a.delivered) for a in answers] == [
        (302, False),
        (500, False),
        (200, True),
    ]


def test_subscribe_time_checks_refuse_http_private_and_unresolvable_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _resolving(monkeypatch, NAME, "10.1.2.3")
    for url, why in (
        ("http://example.com/hook", "https"),
        (f"https://{NAME}/hook", "private address"),
        ("https://169.254.169.254/latest", "private address"),
        ("https://[::1]/hook", "private address"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ):
        problem = endpoint_problem(url, allow_private=False)
        assert problem is not None and why in problem, (url, problem)
    assert endpoint_problem("http://127.0.0.1:9/hook", allow_private=True) is None
