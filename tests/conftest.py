"""Shared fixtures: every test talks to the real local services (``parley services up``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import redis
import testenv
from engines import CountingBackend
from pymongo import MongoClient
from pymongo.database import Database

from core.settings import Settings, get_settings
from services.mcp_engine.server import serve
from storage.mongo import connect, database, ensure_indexes
from tasks.runtime import close_clients
from tests.fakes.accounts import ProviderAccounts


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def mongo_client(settings: Settings) -> Iterator[MongoClient[Any]]:
    client = connect(settings)
    yield client
    client.drop_database(settings.mongo_db)
    client.close()


@pytest.fixture(scope="session")
def db(mongo_client: MongoClient[Any], settings: Settings) -> Database[Any]:
    database_ = database(mongo_client, settings)
    ensure_indexes(database_)
    return database_


@pytest.fixture(scope="session")
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def broker(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.broker_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def providers() -> Iterator[ProviderAccounts]:
    """Provider fakes that prove the accounts tests connect (``providers.own(registration)``)."""
    with ProviderAccounts() as fakes:
        yield fakes


@pytest.fixture
def engine() -> Iterator[CountingBackend]:
    """A real gRPC engine answering on the test run's engine port with the rules backend,
    counting its calls (a module that needs another backend defines its own ``engine``)."""
    backend = CountingBackend()
    server: grpc.Server = serve(testenv.ENGINE_PORT, backend)
    yield backend
    server.stop(1).wait()


@pytest.fixture
def tenant() -> str:
    """A fresh tenant per test keeps tests independent inside the shared database."""
    return "t_" + secrets.token_hex(4)


@pytest.fixture(scope="session", autouse=True)
def _close_worker_clients() -> Iterator[None]:
    """Tests that call a stage directly build this process's worker clients; close them."""
    yield
    close_clients()
