"""The client remembers the hub's answers, valid and invalid, for its cache TTL and no longer."""

from __future__ import annotations

import pytest

from core.errors import TransientError
from core.settings import Settings
from core.tokens import mint_token
from storage.credentials import ApiKeyRepository
from tests.services.security_hub.hub import ConnectClient, FakeClock, Hub

TIMEOUT = 5.0


def test_a_second_call_within_the_ttl_is_answered_without_the_hub(
    connect_client: ConnectClient, hub: Hub, keys: ApiKeyRepository, tenant: str
) -> None:
    client = connect_client(cache_ttl_seconds=30)
    _, plaintext = keys.issue(tenant, "ci", ["admin"])
    first = client.validate_token(plaintext, TIMEOUT)

    hub.stop()  # any further call would fail

    assert first is not None
    assert client.validate_token(plaintext, TIMEOUT) == first


def test_an_invalid_answer_is_remembered_too(
    connect_client: ConnectClient, hub: Hub, tenant: str
) -> None:
    client = connect_client(cache_ttl_seconds=30)
    assert client.validate_token("pk_unknown", TIMEOUT) is None

    hub.stop()

    assert client.validate_token("pk_unknown", TIMEOUT) is None


def test_a_revoked_key_is_accepted_until_its_cached_answer_expires(
    connect_client: ConnectClient, clock: FakeClock, keys: ApiKeyRepository, tenant: str
) -> None:
    client = connect_client(cache_ttl_seconds=30)
    doc, plaintext = keys.issue(tenant, "ci", ["admin"])
    assert client.validate_token(plaintext, TIMEOUT) is not None

    keys.revoke(tenant, doc["_id"])

    clock.advance(29)
    assert client.validate_token(plaintext, TIMEOUT) is not None
    clock.advance(2)
    assert client.validate_token(plaintext, TIMEOUT) is None


def test_a_jwt_is_not_remembered_past_its_expiry(
    connect_client: ConnectClient, hub: Hub, settings: Settings, tenant: str
) -> None:
    client = connect_client(cache_ttl_seconds=30)
    # Expired by 1 s but inside the hub's leeway: valid, and too old to remember.
    token = mint_token(settings.require_jwt_secret(), tenant, "user-1", ttl_seconds=-1)
    assert client.validate_token(token, TIMEOUT) is not None

    hub.stop()

    with pytest.raises(TransientError, match="UNAVAILABLE"):  # asked again, not remembered
        client.validate_token(token, TIMEOUT)


def test_the_cache_forgets_the_least_recently_used_answer_beyond_its_size(
    connect_client: ConnectClient, hub: Hub, keys: ApiKeyRepository, tenant: str
) -> None:
    client = connect_client(cache_ttl_seconds=30, cache_max_entries=2)
    _, first = keys.issue(tenant, "first", ["admin"])
    _, third = keys.issue(tenant, "third", ["admin"])
    assert client.validate_token(first, TIMEOUT) is not None
    assert client.validate_token("pk_unknown", TIMEOUT) is None
    assert client.validate_token(first, TIMEOUT) is not None  # now the most recently used
    assert client.validate_token(third, TIMEOUT) is not None

    hub.stop()

    assert client.validate_token(first, TIMEOUT) is not None
    assert client.validate_token(third, TIMEOUT) is not None
    with pytest.raises(TransientError, match="UNAVAILABLE"):  # forgotten: the hub is asked
        client.validate_token("pk_unknown", TIMEOUT)
