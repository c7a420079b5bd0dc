"""Fixtures that run the reference Security Hub as a real gRPC server over the test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import grpc
import pytest
from pymongo.database import Database

from core.settings import Settings
from protos import security_hub_pb2_grpc
from protos.security_hub_client import SecurityHubClient
from storage.credentials import ApiKeyRepository
from storage.tenants import TenantRepository
from tests.services.security_hub.hub import ConnectClient, FakeClock, Hub


@pytest.fixture
def keys(db: Database[Any]) -> ApiKeyRepository:
    return ApiKeyRepository(db)


@pytest.fixture
def tenants(db: Database[Any]) -> TenantRepository:
    return TenantRepository(db)


@pytest.fixture
def disable(db: Database[Any], tenants: TenantRepository) -> Callable[[str], None]:
    """Switches a tenant off (the admin API that will do it comes later)."""

    def disable_(tenant_id: str) -> None:
        tenants.ensure(tenant_id, tenant_id)
        db["tenants"].update_one({"_id": tenant_id}, {"$set": {"state": "disabled"}})

    return disable_


@pytest.fixture
def hub(db: Database[Any], settings: Settings) -> Iterator[Hub]:
    """A running hub; stopped at the end of the test whatever the test did to it."""
    running = Hub(db, settings)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def connect_client(hub: Hub, clock: FakeClock) -> Iterator[ConnectClient]:
    """Clients of ``hub`` on the fake clock, closed at the end of the test."""
    with ExitStack() as stack:

        def connect(**options: Any) -> SecurityHubClient:
            client = SecurityHubClient(hub.addr, clock=clock, **options)
            stack.callback(client.close)
            return client

        yield connect


@pytest.fixture
def client(connect_client: ConnectClient) -> SecurityHubClient:
    """A client that caches nothing, so every call reaches the hub."""
    return connect_client(cache_ttl_seconds=0)


@pytest.fixture
def stub(hub: Hub) -> Iterator[security_hub_pb2_grpc.SecurityHubStub]:
    """The raw stub, for what the client does not show (the reasons for a refusal)."""
    channel = grpc.insecure_channel(hub.addr)
    yield security_hub_pb2_grpc.SecurityHubStub(channel)
    channel.close()
