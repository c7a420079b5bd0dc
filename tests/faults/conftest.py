"""The fault suite's fixtures: its own databases, services brought back, the output files.

``tests/conftest.py`` has already imported ``testenv`` (secrets, engine port); this module
moves the run to its own MongoDB databases (one per scenario) and Redis databases (11 and 12)
before any Parley setting is read, so the faults never mix with a ``make run`` or a plain
``pytest`` on the same services.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pymongo import MongoClient

from core.settings import Settings, get_settings
from services import devstack
from storage.mongo import connect, ensure_indexes
from tests.faults.config import OUTPUT_DIR, FaultsConfig

os.environ["PARLEY_MONGO_DB"] = f"parley_faults_{os.getpid()}_{secrets.token_hex(3)}"
os.environ["PARLEY_REDIS_URL"] = os.environ.get(
    "PARLEY_FAULTS_REDIS_URL", "redis://127.0.0.1:6379/11"
)
os.environ["PARLEY_BROKER_URL"] = os.environ.get(
    "PARLEY_FAULTS_BROKER_URL", "redis://127.0.0.1:6379/12"
)
# A hung provider costs one send timeout per hang; 5 s keeps the provider scenario short.
os.environ.setdefault("PARLEY_CHANNEL_SEND_TIMEOUT_SECONDS", "5")
get_settings.cache_clear()


@pytest.fixture(scope="session")
def faults_config() -> FaultsConfig:
    config = FaultsConfig.from_env()
    print(
        f"\nfaults: messages={config.messages} conversations={config.conversations} "
        f"rate={config.rate:g}/s seed={config.seed} db={os.environ['PARLEY_MONGO_DB']}"
    )
    return config


@pytest.fixture(scope="session")
def faults_settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def services_restored() -> Iterator[list[str]]:
    """The services that answer now; whatever a scenario stopped is started again at the end."""
    running = [s.name for s in devstack.status() if s.state != "down"]
    missing = sorted(set(devstack.default_names()) - set(running))
    if missing:
        pytest.fail(f"services down: {', '.join(missing)} (run `parley services up`)")
    yield running
    devstack.up(running)


@pytest.fixture
def services_up(services_restored: list[str]) -> list[str]:
    """Each scenario starts with every service answering, whatever the one before it did."""
    devstack.up(services_restored)
    return services_restored


@pytest.fixture(scope="session")
def faults_mongo(faults_settings: Settings, services_restored: list[str]) -> Iterator[Any]:
    client: MongoClient[Any] = connect(faults_settings)
    yield client
    client.close()


@pytest.fixture
def scenario_db(
    faults_mongo: MongoClient[Any], faults_settings: Settings, services_up: list[str]
) -> Iterator[Any]:
    """A database of the scenario's own, so nothing a fault left behind (stuck turns the
    reconciler would re-drive) reaches the next one; dropped afterwards unless
    ``PARLEY_FAULTS_KEEP_DB`` is set, to look into it."""
    name = f"{faults_settings.mongo_db}_{next(_scenario_numbers)}"
    db = faults_mongo[name]
    ensure_indexes(db)
    yield db
    if not os.environ.get("PARLEY_FAULTS_KEEP_DB"):
        faults_mongo.drop_database(name)


_scenario_numbers = itertools.count(1)


@pytest.fixture
def clean_redis(faults_settings: Settings, services_up: list[str]) -> Iterator[None]:
    """The run's sessions and broker databases start and end each scenario empty."""
    urls = (faults_settings.redis_url, faults_settings.broker_url)

    def flush() -> None:
        for url in urls:
            client = redis.Redis.from_url(url, socket_timeout=10)
            try:
                client.flushdb()
            finally:
                client.close()

    flush()
    yield
    flush()


@pytest.fixture(scope="session")
def ledger_file() -> Path:
    """``.parley/faults/ledger.txt``: this run's ledger lines, one per scenario."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUTPUT_DIR / "ledger.txt"
    path.write_text("")
    return path
