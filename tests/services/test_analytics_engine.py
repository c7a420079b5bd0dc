"""The reference Analytics Engine as a process of its own: it reads the chat events off Kafka in
its own group, counts each once (a duplicate record too), forgets a tombstoned conversation, and
serves the tenant's summary over HTTP to the tenant's token only."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from testenv import free_port

from core.scopes import ANALYTICS_READ, MESSAGES_READ
from core.settings import Settings
from core.timeutil import isoformat
from services.devstack import process
from tests.analytics_events import T0, conversation
from tests.credentials import tenant_headers
from tests.kafka_offsets import caught_up, start_at_the_end

ROOT = Path(__file__).resolve().parents[2]
TOPICS = (
    "chat.message.received",
    "chat.message.sent",
    "chat.message.delivered",
    "chat.conversation.started",
)
GROUP_PREFIX = f"parley-test-{uuid.uuid4().hex[:8]}."
RANGE = {"from": isoformat(T0), "to": isoformat(T0 + timedelta(hours=1))}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, settings: Settings, db: Any) -> Iterator[str]:
    start_at_the_end(settings.kafka_bootstrap, f"{GROUP_PREFIX}analytics-engine", TOPICS)
    port = free_port()
    log = tmp_path_factory.mktemp("analytics-engine") / "engine.log"
    child = process.launch(
        [sys.executable, "-m", "services.analytics_engine", "--port", str(port)],
        log,
        env={"PARLEY_CONSUMER_GROUP_PREFIX": GROUP_PREFIX},
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert child.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    yield base
    process.stop([child])


def _publish(events: list[dict[str, Any]], tombstones: list[str], bootstrap: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for one in events:
        key = str(one["partitionkey"]).encode()
        producer.produce(one["type"], key=key, value=json.dumps(one).encode())
    for key in tombstones:
        for topic in TOPICS:
            producer.produce(topic, key=key.encode(), value=None)
    assert producer.flush(20) == 0


def test_the_engine_counts_each_event_once_and_serves_the_tenants_summary(
    engine: str, settings: Settings, db: Any, tenant: str
) -> None:
    _, kept = conversation(db, tenant, T0, [100, 300])
    erased, forgotten = conversation(db, tenant, T0, [50])
    _publish(kept + kept[:2] + forgotten, [erased], settings.kafka_bootstrap)  # two duplicates
    headers = tenant_headers(settings, tenant, scopes=[ANALYTICS_READ])

    def figures() -> dict[str, Any]:
        answer = httpx.get(f"{engine}/v1/analytics/summary", params=RANGE, headers=headers)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()["figures"]
        return found

    group = f"{GROUP_PREFIX}analytics-engine"
    deadline = time.monotonic() + 90
    while not caught_up(settings.kafka_bootstrap, group, TOPICS):  # tombstones included
        assert time.monotonic() < deadline, "the engine did not read every record"
        time.sleep(0.3)
    found = figures()

    assert found["conversations_started"] == 1
    assert (found["messages_in"], found["messages_out"], found["delivered"]) == (2, 2, 2)
    assert (found["response_p50_ms"], found["response_p95_ms"]) == (100, 300)
    assert db["analytics_engine_facts"].count_documents({"tenant_id": tenant}) == 7


def test_the_summary_needs_the_tenants_token_with_the_analytics_scope(
    engine: str, settings: Settings, tenant: str
) -> None:
    url = f"{engine}/v1/analytics/summary"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    narrow = tenant_headers(settings, tenant, scopes=[MESSAGES_READ])
    assert httpx.get(url, headers=narrow).status_code == 403
    bad = httpx.get(url, params={"from": "soon"}, headers=tenant_headers(settings, tenant))
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
