"""The workers' telemetry: engine calls, dead letters, a breaker opening, dependencies' health
and the stages' performance, told as events (docs/event-catalogue.md)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import redis
from engines import CountingBackend
from kafka_reader import EventReader
from pymongo.database import Database
from testenv import ENGINE_PORT, free_port

from channels.base import SendRejected
from core.errors import TransientError
from core.event_types import SYSTEM_HEALTH
from core.ids import new_id
from core.timeutil import utcnow
from protos import mcp_engine_pb2 as pb
from protos.engine_client import EngineClient
from services.mcp_engine.server import serve
from storage.conversations import ConversationRepository
from storage.dead_letters import id_for
from storage.messages import MessageRepository
from storage.outbox import with_outbox
from storage.telemetry import QUEUE, Telemetry
from tasks.calls import breaker_opened
from tasks.failures import dead_letter
from tasks.generate import generate
from tasks.process import process
from tasks.runtime import clients
from tasks.telemetry import HEALTH_KEY, check_health, summary


def _queued(rdb: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(value) for value in rdb.lrange(QUEUE, 0, -1)]


def _accept(db: Database[Any], tenant: str) -> dict[str, Any]:
    message_id = new_id("msg")
    conversation = ConversationRepository(db).resolve_open(tenant, "api", "ana", message_id)
    now = utcnow()
    doc: dict[str, Any] = {
        "_id": message_id,
        "tenant_id": tenant,
        "conversation_id": conversation,
        "channel": "api",
        "direction": "inbound",
        "user_id": "ana",
        "text": "hello",
        "metadata": {},
        "dedupe_key": f"msg:{message_id}",
        "status": "accepted",
        "journey": {"accepted": now},
        "created_at": now,
        "updated_at": now,
    }
    MessageRepository(db).insert_once(with_outbox(doc, []))
    return doc


def test_a_turns_engine_call_is_told_with_its_outcome_and_latency(
    db: Database[Any], redis_client: redis.Redis, tenant: str, engine: CountingBackend
) -> None:
    message = _accept(db, tenant)
    process(tenant, message["_id"])
    generate(tenant, message["_id"])
    calls = [
        e
        for e in _queued(redis_client)
        if e["type"] == "integration.api.called" and e["data"]["message_id"] == message["_id"]
    ]
    assert len(calls) == 1 and engine.calls == [message["_id"]]
    [call] = calls
    assert call["tenantid"] == tenant
    assert {k: call["data"][k] for k in ("target", "operation", "status", "outcome")} == {
        "target": "engine",
        "operation": "Generate",
        "status": 0,
        "outcome": "ok",
    }
    assert call["data"]["latency_ms"] > 0


def test_a_dead_letter_is_told_in_the_turns_outbox_or_when_the_turn_goes_on_the_queue(
    db: Database[Any], redis_client: redis.Redis, tenant: str
) -> None:
    c = clients()
    parked, going_on = _accept(db, tenant), _accept(db, tenant)
    dead_letter(c, parked, "deliver", SendRejected("the number is not on WhatsApp"), "permanent", 1)
    dead_letter(
        c, going_on, "generate", TransientError("engine down"), "engine_unavailable", 3, None
    )

    stored = db["messages"].find_one({"_id": parked["_id"]})
    assert stored is not None
    entries = {entry["topic"]: json.loads(entry["value"]) for entry in stored["outbox"]}
    assert set(entries) == {"chat.message.failed", "system.error"}
    error = entries["system.error"]
    assert error["id"] == f"{id_for(parked['_id'], 'deliver')}:error:0"
    assert error["data"]["kind"] == "dead_letter" and error["data"]["reason"] == "permanent"
    assert error["data"]["message_id"] == parked["_id"] and error["data"]["stage"] == "deliver"

    told = [
        e
        for e in _queued(redis_client)
        if e["type"] == "system.error" and e["data"]["message_id"] == going_on["_id"]
    ]
    assert [(e["data"]["kind"], e["data"]["reason"]) for e in told] == [
        ("dead_letter", "engine_unavailable")
    ]
    assert (db["messages"].find_one({"_id": going_on["_id"]}) or {}).get("outbox") == []


def test_an_engine_breaker_opening_is_told_once_as_a_system_error(
    redis_client: redis.Redis,
) -> None:
    client = EngineClient(
        f"127.0.0.1:{free_port()}",  # nobody there
        breaker_threshold=2,
        on_open=breaker_opened(lambda: Telemetry(redis_client)),
    )
    marker = uuid.uuid4().hex
    try:
        for _ in range(4):
            with pytest.raises(TransientError):
                client.generate(pb.GenerateRequest(text=marker), timeout=1.0)
    finally:
        client.close()
    opened = [
        e
        for e in _queued(redis_client)
        if e["type"] == "system.error" and e["data"]["kind"] == "breaker_open"
    ]
    assert len(opened) == 1
    assert opened[0]["tenantid"] == "*" and opened[0]["data"]["target"] == "engine"


def test_check_health_tells_each_change_once(redis_client: redis.Redis) -> None:
    redis_client.delete(HEALTH_KEY)
    reader = EventReader(clients().settings.kafka_bootstrap, [SYSTEM_HEALTH])
    try:
        assert check_health() == ["engine"]  # down from the first look: news
        assert check_health() == []  # still down: told already
        backend = CountingBackend()
        server = serve(ENGINE_PORT, backend)
        try:
            # The client's channel reconnects on its own schedule: look until it has.
            deadline = time.monotonic() + 30
            changed = check_health()
            while not changed and time.monotonic() < deadline:
                time.sleep(0.2)
                changed = check_health()
            assert changed == ["engine"]  # back up
            assert check_health() == []
        finally:
            server.stop(1).wait()
        reader.collect(
            lambda seen: (
                [e["data"]["status"] for e in seen if e["subject"] == "engine"][-2:]
                == ["down", "up"]
            ),
            30,
        )
        ours = [e for e in reader.events() if e["subject"] == "engine"]
    finally:
        reader.close()
        redis_client.delete(HEALTH_KEY)
    assert [(e["data"]["status"], e["data"]["reporter"]) for e in ours] == [
        ("down", "worker"),
        ("up", "worker"),
    ]
    assert ours[0]["tenantid"] == "*"


def test_the_performance_summary_counts_and_ranks_each_stage() -> None:
    stages = summary(
        {"process": [float(n) for n in range(1, 101)], "deliver": [7.0]}, {"deliver": 2}
    )
    assert stages == {
        "deliver": {"count": 1, "p50_ms": 7.0, "p95_ms": 7.0, "failed": 2},
        "process": {"count": 100, "p50_ms": 50.0, "p95_ms": 95.0, "failed": 0},
    }
