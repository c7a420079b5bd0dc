"""With the hub down the client fails closed and then fast, and it recovers once the hub is back."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pymongo import MongoClient
from testenv import free_port

from core.errors import PermanentError, TransientError
from core.settings import Settings
from protos.security_hub_client import SecurityHubClient
from services.security_hub import serve
from storage.credentials import ApiKeyRepository
from tests.services.security_hub.hub import ConnectClient, FakeClock, Hub

TIMEOUT = 5.0
OPEN_SECONDS = 10.0


def wait_until_serving(client: SecurityHubClient) -> None:
    """Waits (in real time) for the client's channel to reach the restarted hub."""
    deadline = time.monotonic() + 15
    while not client.is_serving(timeout=0.5):
        assert time.monotonic() < deadline, "the hub did not come back"
        time.sleep(0.05)


@pytest.fixture
def breaking_client(connect_client: ConnectClient) -> SecurityHubClient:
    return connect_client(
        cache_ttl_seconds=0, breaker_threshold=2, breaker_open_seconds=OPEN_SECONDS
    )


def test_a_hub_that_is_down_fails_closed_with_a_transient_error_then_fails_fast(
    breaking_client: SecurityHubClient, hub: Hub
) -> None:
    hub.stop()

    for _ in range(2):
        with pytest.raises(TransientError, match="ValidateToken failed: UNAVAILABLE"):
            breaking_client.validate_token("pk_any", TIMEOUT)
    with pytest.raises(TransientError, match="circuit open after 2 failures"):
        breaking_client.validate_token("pk_any", TIMEOUT)
    with pytest.raises(TransientError, match="circuit open"):
        breaking_client.check_permission("acme", "key_1", "admin", "", TIMEOUT)


def test_an_open_circuit_fails_fast_while_the_hub_is_back_and_closes_after_its_open_time(
    breaking_client: SecurityHubClient,
    hub: Hub,
    clock: FakeClock,
    keys: ApiKeyRepository,
    tenant: str,
) -> None:
    _, plaintext = keys.issue(tenant, "ci", ["admin"])
    hub.stop()
    for _ in range(2):
        with pytest.raises(TransientError):
            breaking_client.validate_token(plaintext, TIMEOUT)

    hub.start()
    wait_until_serving(breaking_client)

    with pytest.raises(TransientError, match="circuit open"):  # no call goes out yet
        breaking_client.validate_token(plaintext, TIMEOUT)
    clock.advance(OPEN_SECONDS)
    assert breaking_client.validate_token(plaintext, TIMEOUT) is not None  # the probe
    assert breaking_client.validate_token(plaintext, TIMEOUT) is not None  # closed again


def test_a_failed_probe_opens_the_circuit_again(
    breaking_client: SecurityHubClient, hub: Hub, clock: FakeClock
) -> None:
    hub.stop()
    for _ in range(2):
        with pytest.raises(TransientError):
            breaking_client.validate_token("pk_any", TIMEOUT)
    clock.advance(OPEN_SECONDS)

    with pytest.raises(TransientError, match="UNAVAILABLE"):  # the probe reaches for the hub
        breaking_client.validate_token("pk_any", TIMEOUT)

    with pytest.raises(TransientError, match="circuit open"):
        breaking_client.validate_token("pk_any", TIMEOUT)


def test_permanent_errors_leave_the_circuit_closed(
    connect_client: ConnectClient, keys: ApiKeyRepository, tenant: str
) -> None:
    client = connect_client(cache_ttl_seconds=0, breaker_threshold=1)
    _, plaintext = keys.issue(tenant, "ci", ["admin"])

    for _ in range(3):
        with pytest.raises(PermanentError, match="INVALID_ARGUMENT"):
            client.check_permission(tenant, "", "admin", "", TIMEOUT)

    assert client.validate_token(plaintext, TIMEOUT) is not None


def test_a_hub_that_is_down_is_not_serving(breaking_client: SecurityHubClient, hub: Hub) -> None:
    assert breaking_client.is_serving() is True

    hub.stop()

    assert breaking_client.is_serving(timeout=0.5) is False


def test_a_hub_whose_database_is_unreachable_makes_the_client_fail_closed(
    settings: Settings, keys: ApiKeyRepository, tenant: str
) -> None:
    _, plaintext = keys.issue(tenant, "ci", ["admin"])
    nowhere: MongoClient[Any] = MongoClient(
        f"mongodb://127.0.0.1:{free_port()}/", serverSelectionTimeoutMS=300
    )
    port = free_port()
    server = serve(port, nowhere[settings.mongo_db], settings)
    client = SecurityHubClient(f"127.0.0.1:{port}", cache_ttl_seconds=30)
    try:
        with pytest.raises(TransientError, match="UNAVAILABLE: the credential store"):
            client.validate_token(plaintext, TIMEOUT)
        with pytest.raises(TransientError, match="UNAVAILABLE"):  # the outage was not cached
            client.validate_token(plaintext, TIMEOUT)
    finally:
        client.close()
        server.stop(grace=None).wait()
        nowhere.close()
