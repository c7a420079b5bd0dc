"""Issue 13's acceptance, as a new user would see it: messages in through the real ingress and
webhooks, the processing pipeline in a real ``celery worker``, the reply out through the chain.

The engine here is a gRPC server in the test process (the real rules backend, keeping every
request), so a test can read exactly what the engine was told.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
import pytest
from channel_scenarios import WhatsAppScenario
from engines import RecordingBackend
from kafka_reader import EventReader
from processes import running_platform
from pymongo.database import Database
from testenv import ENGINE_PORT, free_port

from core.settings import Settings
from protos import mcp_engine_pb2 as pb
from services.mcp_engine.server import serve
from storage.blobs import BlobStore
from storage.messages import reply_id
from tests.credentials import admin_headers, tenant_headers
from tests.fakes.accounts import ProviderAccounts
from tests.fakes.whatsapp import FakeWhatsApp, inbound_media, signed_webhook
from tests.processors.media.samples import EICAR, image

pytestmark = pytest.mark.e2e

CARD = "4111 1111 1111 1111"
ACCEPTANCE = "Bonjour, je voudrais annuler ma commande 1234, écrivez-moi à jean@example.fr"
ORDER_NUMBER = {"name": "order_number", "regex": r"\b\d{4,8}\b"}
T = TypeVar("T")


class Stack:
    def __init__(self, base: str, providers: ProviderAccounts, engine: RecordingBackend) -> None:
        self.base = base
        self.providers = providers
        self.engine = engine

    @property
    def whatsapp(self) -> FakeWhatsApp:
        return self.providers.whatsapp


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, db: Any, broker: Any) -> Iterator[Stack]:
    logs: Path = tmp_path_factory.mktemp("processing-logs")
    with ExitStack() as stack:
        backend = RecordingBackend()
        server: grpc.Server = serve(ENGINE_PORT, backend)
        stack.callback(lambda: server.stop(1).wait())
        providers = stack.enter_context(ProviderAccounts())
        # The WhatsApp fake serves media from 127.0.0.1, which workers refuse unless allowed.
        env = {**providers.env, "PARLEY_MEDIA_ALLOW_PRIVATE_ADDRESSES": "true"}
        base, _ = stack.enter_context(
            running_platform(logs, ENGINE_PORT, free_port(), env, engine=False)
        )
        yield Stack(base, providers, backend)


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def new_tenant(stack: Stack, settings: Settings, tenant: str, processing: dict[str, Any]) -> None:
    """Created through the admin API with its processing config, as an operator would."""
    created = httpx.post(
        f"{stack.base}/v1/admin/tenants",
        headers=admin_headers(settings),
        json={"id": tenant, "name": f"Tenant {tenant}", "processing": processing},
    )
    assert created.status_code == 201, created.text


def completed(stack: Stack, headers: dict[str, str], message_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = httpx.get(
            f"{stack.base}/v1/messages/{message_id}", headers=headers
        ).json()
        return body if body.get("status") in ("completed", "failed") else None

    return eventually(probe, f"message {message_id} completed")


def engine_request(stack: Stack, text_part: str) -> pb.GenerateRequest:
    return eventually(
        lambda: next((r for r in stack.engine.requests if text_part in r.text), None),
        "the engine request",
    )


def received(reader: EventReader, message_id: str) -> dict[str, Any]:
    def mine(events: list[dict[str, Any]]) -> bool:
        return any(e["data"].get("message_id") == message_id for e in events)

    events = reader.collect(mine, timeout=60)
    [event] = [e for e in events if e["data"].get("message_id") == message_id]
    return event


def test_a_french_order_cancellation_shows_its_processing_and_is_answered_in_french(
    stack: Stack, settings: Settings, tenant: str
) -> None:
    new_tenant(stack, settings, tenant, {"processors": {"entities": {"patterns": [ORDER_NUMBER]}}})
    headers = tenant_headers(settings, tenant)
    posted = httpx.post(
        f"{stack.base}/v1/messages", headers=headers, json={"user_id": "jean", "text": ACCEPTANCE}
    )
    assert posted.status_code == 202, posted.text
    ids = posted.json()

    message = completed(stack, headers, ids["message_id"])

    assert message["status"] == "completed"
    processing = message["processing"]
    assert processing["language"]["code"] == "fr"
    found = {(e["type"], e["text"]) for e in processing["entities"]}
    assert {("email", "jean@example.fr"), ("order_number", "1234")} <= found
    assert processing["sentiment"]["label"] in ("positive", "neutral", "negative")
    assert isinstance(processing["sentiment"]["score"], float)
    stages = {s["processor"]: s for s in processing["stages"]}
    assert {"validation", "language", "entities", "sentiment", "safety"} <= set(stages)
    assert all(s["outcome"] == "ok" and s["duration_ms"] >= 0 for s in stages.values()), stages
    request = engine_request(stack, "1234")
    assert request.processing.language == "fr"
    listing = httpx.get(
        f"{stack.base}/v1/conversations/{ids['conversation_id']}/messages", headers=headers
    ).json()
    [reply] = [m for m in listing["data"] if m["direction"] == "outbound"]
    assert "commande" in reply["text"] and "1234" in reply["text"]  # the French rule's reply


def test_a_card_number_under_a_redact_policy_reaches_neither_the_engine_nor_kafka_nor_storage(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    new_tenant(stack, settings, tenant, {"safety": {"policy": {"card": "redact"}}})
    headers = tenant_headers(settings, tenant)
    reader = EventReader(settings.kafka_bootstrap, ["chat.message.received"])
    try:
        posted = httpx.post(
            f"{stack.base}/v1/messages",
            headers=headers,
            json={"user_id": "ana", "text": f"please charge my card {CARD} for the order"},
        )
        assert posted.status_code == 202, posted.text
        message_id = posted.json()["message_id"]
        message = completed(stack, headers, message_id)
        event = received(reader, message_id)
    finally:
        reader.close()

    digits = CARD.replace(" ", "")
    request = engine_request(stack, "please charge my card")
    assert "[card]" in request.text and digits not in request.text.replace(" ", "")
    assert list(request.processing.safety.categories) == ["card"]
    assert "[card]" in event["data"]["text"]
    assert digits not in json.dumps(event).replace(" ", "")
    assert message["processing"]["safety"]["action"] == "redact"
    assert "[card]" in message["text"]
    stored = db["messages"].find_one({"_id": message_id})
    assert stored is not None and digits not in json.dumps(stored, default=str).replace(" ", "")


def connect_whatsapp(stack: Stack, settings: Settings, tenant: str) -> tuple[WhatsAppScenario, str]:
    scenario = WhatsAppScenario()
    created = httpx.post(
        f"{stack.base}/v1/admin/channels",
        headers=tenant_headers(settings, tenant, subject="ops"),
        json=stack.providers.own(scenario.registration()),
    )
    assert created.status_code == 201, created.text
    return scenario, f"{stack.base}/webhooks/whatsapp/{created.json()['id']}"


def send_media(scenario: WhatsAppScenario, url: str, media_id: str, mime_type: str) -> None:
    payload = inbound_media(
        "image", media_id, mime_type, phone_number_id=scenario.account_id, user=scenario.user
    )
    raw, headers = signed_webhook(payload, scenario.app_secret)
    assert httpx.post(url, content=raw, headers=headers).status_code == 200


def reply_to(stack: Stack, user: str) -> list[str]:
    """The text of each message sent to ``user``: plain text, or the body of reply buttons (the
    rules engine answers a turn it does not understand, such as a bare image, with buttons)."""
    texts = []
    for sent in list(stack.whatsapp.sent):
        if sent.body.get("to") != user:
            continue
        if sent.body.get("type") == "text":
            texts.append(sent.body["text"]["body"])
        elif sent.body.get("type") == "interactive":
            texts.append(sent.body["interactive"]["body"]["text"])
    return texts


def inbound_of(db: Database[Any], tenant: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = db["messages"].find_one(
        {"tenant_id": tenant, "direction": "inbound", "processing": {"$exists": True}}
    )
    return found


def test_a_whatsapp_image_is_fetched_checked_scanned_described_and_kept(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    scenario, url = connect_whatsapp(stack, settings, tenant)
    picture = image("PNG", (120, 80))
    media_id = stack.whatsapp.add_media(picture, "image/png")

    send_media(scenario, url, media_id, "image/png")

    eventually(lambda: reply_to(stack, scenario.user), "the reply to the image")
    message = eventually(lambda: inbound_of(db, tenant), "the processed image")
    media = message["processing"]["media"]
    assert (media["type"], media["mime_type"], media["scan"]) == ("image", "image/png", "clean")
    assert (media["width"], media["height"]) == (120, 80)
    fetched = [r.path for r in list(stack.whatsapp.requests) if media_id in r.path]
    assert fetched == [f"/{media_id}", f"/media-download/{media_id}"]
    kept = BlobStore(db).get(tenant, media["blob_id"])
    assert (kept.size, kept.mime_type) == (media["size"], "image/png")
    assert kept.data.startswith(b"\x89PNG")


def test_the_eicar_test_file_is_refused_with_a_reply_and_never_stored(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    scenario, url = connect_whatsapp(stack, settings, tenant)
    media_id = stack.whatsapp.add_media(EICAR, "image/jpeg")
    blobs = BlobStore(db)

    send_media(scenario, url, media_id, "image/jpeg")

    [answer] = eventually(lambda: reply_to(stack, scenario.user), "the refusal")
    message = eventually(lambda: inbound_of(db, tenant), "the processed file")
    assert message["processing"]["refused"]["reason"] == "media:infected"
    assert answer == message["processing"]["refused"]["reply"]
    assert "media" not in message["processing"]
    assert [r for r in stack.engine.requests if r.message_id == message["_id"]] == []
    assert blobs.count(tenant) == 0
    turn = eventually(
        lambda: db["audit"].find_one({"tenant_id": tenant, "refused": "media:infected"}),
        "the audited refusal",
    )
    assert turn["reply_id"] == reply_id(message["_id"])


def test_a_whatsapp_location_is_placed_and_stored_and_published_coarsened(
    stack: Stack, settings: Settings, db: Database[Any], tenant: str
) -> None:
    new_tenant(stack, settings, tenant, {"processors": {"location": {"precision_decimals": 2}}})
    scenario, url = connect_whatsapp(stack, settings, tenant)
    reader = EventReader(settings.kafka_bootstrap, ["chat.message.received"])
    try:
        raw, headers = scenario.inbound_location(
            48.856613, 2.352222, {"name": "Hôtel de Ville", "address": "Place de l'Hôtel de Ville"}
        )
        assert httpx.post(url, content=raw, headers=headers).status_code == 200
        message = eventually(lambda: inbound_of(db, tenant), "the processed location")
        event = received(reader, message["_id"])
    finally:
        reader.close()

    location = message["processing"]["location"]
    assert (location["place"], location["region"], location["country"]) == (
        "Paris",
        "Ile-de-France",
        "FR",
    )
    assert (message["content"]["latitude"], message["content"]["longitude"]) == (48.86, 2.35)
    assert (location["latitude"], location["longitude"]) == (48.86, 2.35)
    published = json.dumps(event)
    assert "48.856613" not in published and "2.352222" not in published
    assert "48.856613" not in json.dumps(message, default=str)
    assert event["data"]["processing"]["place"] == "Paris"
    eventually(lambda: reply_to(stack, scenario.user), "the reply to the location")
