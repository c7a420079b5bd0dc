"""The process stage runs the processing pipeline on the real services: what it stores on the
message and in the received event, a refused turn answered with the policy's reply and audited
without the engine, a redaction that reaches the stored text, the engine and the events, and a
tenant's processing config applied without a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import redis
from engines import RecordingBackend
from kafka_reader import EventReader
from pymongo.database import Database
from starlette.testclient import TestClient
from test_tasks import accept
from testenv import ENGINE_PORT

from core.settings import Settings
from ingress.app import create_app
from processors import registry
from processors.base import Kind, Stage, Work
from processors.normalise.validation import EMPTY_REPLY
from services.mcp_engine.server import serve
from storage.audit import AuditRepository
from storage.messages import reply_id
from storage.tenants import TenantRepository
from tasks.audit import audit
from tasks.deliver import deliver
from tasks.generate import generate
from tasks.process import process
from tests.credentials import tenant_headers

CARD = "4111 1111 1111 1111"
NORMALISERS = [
    ("validation", "validation"),
    ("message", "normalisation"),
    ("content", "normalisation"),
    ("metadata", "normalisation"),
]


@pytest.fixture
def engine() -> Iterator[RecordingBackend]:
    backend = RecordingBackend()
    server: grpc.Server = serve(ENGINE_PORT, backend)
    yield backend
    server.stop(1).wait()


class CardRedactor:
    """Stands in for the safety processor: redacts one card number as its policy would."""

    name = "safety"
    stage = Stage.ANALYSIS
    kinds = frozenset({Kind.TEXT})

    def run(self, work: Work) -> None:
        work.engine_text = work.text.replace(CARD, "[card]")
        work.results[self.name] = {"flags": [{"category": "card"}], "action": "redact"}


@pytest.fixture
def redacting() -> Iterator[None]:
    saved = dict(registry._PROCESSORS)
    registry._PROCESSORS["safety"] = CardRedactor()
    yield
    registry._PROCESSORS.clear()
    registry._PROCESSORS.update(saved)


def stored(db: Database[Any], message_id: str) -> dict[str, Any]:
    doc = db["messages"].find_one({"_id": message_id})
    assert doc is not None
    return doc


def received_event(message: dict[str, Any]) -> dict[str, Any]:
    [entry] = [e for e in message["outbox"] if e["id"] == f"{message['_id']}:received"]
    event: dict[str, Any] = json.loads(entry["value"])
    return event


def outcomes(processing: dict[str, Any], names: list[str]) -> list[tuple[str, str]]:
    return [(s["processor"], s["outcome"]) for s in processing["stages"] if s["processor"] in names]


def test_the_pipeline_cleans_the_text_records_its_stages_and_restages_the_received_event(
    db: Database[Any], tenant: str
) -> None:
    message_id = accept(db, tenant, "> you wrote\nCafÃ© for two, please\n-- \nAna Lima")

    process(tenant, message_id)

    message = stored(db, message_id)
    processing = message["processing"]
    assert processing["normalized_text"] == processing["engine_text"] == "Café for two, please"
    assert processing["message"] == {"removed": ["quote", "signature"]}
    assert processing["content"] == {"repaired": True, "truncated": False}
    assert (processing["kind"], processing["message_type"]) == ("text", "text")
    stages = [(s["processor"], s["stage"]) for s in processing["stages"]]
    assert [s for s in stages if s in NORMALISERS] == NORMALISERS
    assert all(s["duration_ms"] >= 0 for s in processing["stages"])
    assert outcomes(processing, ["validation", "message", "content", "metadata"]) == [
        ("validation", "ok"),
        ("message", "ok"),
        ("content", "ok"),
        ("metadata", "ok"),
    ]
    event = received_event(message)
    assert event["type"] == "chat.message.received"
    assert event["data"]["text"] == "Café for two, please"
    assert event["data"]["processing"]["kind"] == "text"
    assert event["data"]["processing"]["refused"] is None
    assert "entities" not in event["data"]["processing"]


def test_a_refused_turn_is_answered_with_the_policy_reply_and_audited_without_the_engine(
    engine: RecordingBackend, db: Database[Any], tenant: str
) -> None:
    message_id = accept(db, tenant, " \n\t ")

    for stage in (process, generate, deliver, audit):
        stage(tenant, message_id)

    processing = stored(db, message_id)["processing"]
    assert processing["refused"] == {"reason": "invalid", "reply": EMPTY_REPLY}
    assert [(s["processor"], s["outcome"]) for s in processing["stages"]] == [
        ("validation", "refused")
    ]
    assert engine.calls == []
    reply = stored(db, reply_id(message_id))
    assert reply["text"] == EMPTY_REPLY
    assert reply["engine"] == {"intent": "refused", "backend": "policy"}
    record = AuditRepository(db).get_turn(tenant, message_id)
    assert record is not None
    assert record["refused"] == "invalid" and record["reply_id"] == reply_id(message_id)
    assert stored(db, message_id)["status"] == "completed"


def test_a_redacted_card_number_never_reaches_the_stored_text_the_engine_or_kafka(
    engine: RecordingBackend, redacting: None, db: Database[Any], settings: Settings, tenant: str
) -> None:
    message_id = accept(db, tenant, f"my card is {CARD}")
    reader = EventReader(settings.kafka_bootstrap, ["chat.message.received"])
    try:
        for stage in (process, generate, deliver, audit):
            stage(tenant, message_id)
        events = reader.collect(
            lambda evs: any(e["id"] == f"{message_id}:received" for e in evs), timeout=30
        )
    finally:
        reader.close()

    message = stored(db, message_id)
    assert message["text"] == message["processing"]["engine_text"] == "my card is [card]"
    [request] = engine.requests
    assert (request.text, request.processing.normalized_text) == ("my card is [card]",) * 2
    [published] = [e for e in events if e["id"] == f"{message_id}:received"]
    # As stored, plus the conversation's sequence number the relay gave it on the way out.
    number = published["data"].pop("sequence")
    assert published == received_event(message) and number == 1
    assert CARD not in json.dumps(published) and CARD not in json.dumps(message, default=str)
    assert published["data"]["text"] == "my card is [card]"
    assert published["data"]["processing"]["safety"] == {"action": "redact", "categories": ["card"]}


def test_a_tenant_that_keeps_originals_keeps_the_text_but_the_engine_sees_the_redaction(
    engine: RecordingBackend, redacting: None, db: Database[Any], tenant: str
) -> None:
    TenantRepository(db).create(tenant, "Acme", {"processing": {"safety": {"keep_original": True}}})
    message_id = accept(db, tenant, f"my card is {CARD}")

    process(tenant, message_id)
    generate(tenant, message_id)

    message = stored(db, message_id)
    assert message["text"] == f"my card is {CARD}"
    assert CARD not in json.dumps({**message, "text": ""}, default=str)  # text alone keeps it
    assert engine.requests[0].text == "my card is [card]"
    assert CARD not in json.dumps(received_event(stored(db, message_id)))


def test_a_tenants_processing_config_applies_without_a_restart(
    db: Database[Any], settings: Settings, tenant: str
) -> None:
    tenants = TenantRepository(db)
    tenants.create(tenant, "Acme", {"processing": {"processors": {"message": {"enabled": False}}}})
    first = accept(db, tenant, "> quoted\nthe reply")
    process(tenant, first)
    assert outcomes(stored(db, first)["processing"], ["message"]) == [("message", "disabled")]
    assert stored(db, first)["processing"]["normalized_text"] == "> quoted\nthe reply"

    tenants.update(tenant, {"processing": None})  # what PATCH .../tenants/{id} does
    time.sleep(settings.tenant_cache_seconds + 0.2)
    second = accept(db, tenant, "> quoted\nthe reply")
    process(tenant, second)

    assert outcomes(stored(db, second)["processing"], ["message"]) == [("message", "ok")]
    assert stored(db, second)["processing"]["normalized_text"] == "the reply"


def test_get_message_shows_the_processing_and_its_stages(
    db: Database[Any], broker: redis.Redis, settings: Settings, tenant: str
) -> None:
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        headers = tenant_headers(settings, tenant)
        posted = client.post("/v1/messages", headers=headers, json={"user_id": "ana", "text": "Hi"})
        assert posted.status_code == 202
        message_id = posted.json()["message_id"]
        process(tenant, message_id)
        shown = client.get(f"/v1/messages/{message_id}", headers=headers)

    assert shown.status_code == 200
    processing = shown.json()["processing"]
    assert (processing["normalized_text"], processing["kind"]) == ("Hi", "text")
    stages = [(s["processor"], s["stage"]) for s in processing["stages"]]
    assert stages[: len(NORMALISERS)] == NORMALISERS
    assert all(isinstance(s["duration_ms"], float) for s in processing["stages"])


ACCEPTANCE = "Bonjour, je voudrais annuler ma commande 1234, écrivez-moi à jean@example.fr"
ORDER_NUMBER = {"name": "order_number", "regex": r"\b\d{4,8}\b"}


def test_a_french_order_cancellation_is_understood_and_answered_in_french(
    db: Database[Any], tenant: str, engine: RecordingBackend
) -> None:
    TenantRepository(db).create(
        tenant,
        "Acme",
        {"processing": {"processors": {"entities": {"patterns": [ORDER_NUMBER]}}}},
    )
    message_id = accept(db, tenant, ACCEPTANCE)

    process(tenant, message_id)
    generate(tenant, message_id)

    processing = stored(db, message_id)["processing"]
    assert processing["language"]["code"] == "fr"
    found = {(e["type"], e["text"]) for e in processing["entities"]}
    assert {("email", "jean@example.fr"), ("order_number", "1234")} <= found
    assert processing["sentiment"]["label"] in ("positive", "neutral", "negative")
    assert all(s["outcome"] == "ok" for s in processing["stages"]), processing["stages"]
    [request] = engine.requests
    assert request.processing.language == "fr"
    assert "1234" in stored(db, reply_id(message_id))["text"]
    assert "commande" in stored(db, reply_id(message_id))["text"]


def test_a_location_is_stored_and_published_no_finer_than_the_tenants_precision(
    db: Database[Any], tenant: str
) -> None:
    message_id = accept(db, tenant, "48.856613,2.352222")
    db["messages"].update_one(
        {"_id": message_id},
        {
            "$set": {
                "kind": "location",
                "content": {
                    "latitude": 48.856613,
                    "longitude": 2.352222,
                    "address": "1 Rue de Rivoli",
                },
            }
        },
    )

    process(tenant, message_id)

    message = stored(db, message_id)
    assert message["content"]["latitude"] == 48.86 and message["content"]["longitude"] == 2.35
    assert "address" not in message["content"]
    assert "48.856613" not in message["text"]
    location = message["processing"]["location"]
    assert (location["place"], location["country"]) == ("Paris", "FR")
    assert "48.856613" not in json.dumps(received_event(message))
