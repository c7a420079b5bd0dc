"""Erasure and export of one end user, on the real platform: turns answered by real workers,
then the user's data looked for in every store the test can reach after ``/v1/privacy/erase``."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from kafka_reader import EventReader
from processes import running_platform
from pymongo.database import Database
from testenv import ENGINE_PORT, free_port

from core.ids import new_id
from core.settings import Settings
from core.timeutil import utcnow
from storage.blobs import BlobStore
from storage.event_sequence import sequence_key
from storage.outbox import PENDING_COLLECTION
from storage.sessions import session_key
from storage.uploads import UploadRepository
from storage.visitor_streams import stream_key
from tests.credentials import tenant_headers

pytestmark = pytest.mark.e2e

CHAT_TOPICS = ["chat.message.received", "chat.conversation.started", "chat.conversation.ended"]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, db: Any, broker: Any) -> Iterator[str]:
    logs: Path = tmp_path_factory.mktemp("privacy-logs")
    with running_platform(logs, ENGINE_PORT, free_port()) as (base, _):
        yield base


def _send(base: str, headers: dict[str, str], user: str, text: str) -> dict[str, str]:
    posted = httpx.post(
        f"{base}/v1/messages", headers=headers, json={"user_id": user, "text": text}
    )
    assert posted.status_code == 202, posted.text
    ids: dict[str, str] = posted.json()
    return ids


def _completed(base: str, headers: dict[str, str], message_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(f"{base}/v1/messages/{message_id}", headers=headers).json().get("status") in (
            "completed",
            "failed",
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"message {message_id} did not complete")


def _listed_users(base: str, headers: dict[str, str]) -> set[str]:
    listing = httpx.get(f"{base}/v1/conversations", headers=headers, params={"limit": 100})
    assert listing.status_code == 200, listing.text
    return {c["user_id"] for c in listing.json()["data"]}


def _everything_of(
    db: Database[Any], rdb: redis.Redis, tenant: str, user: str, conversations: list[str]
) -> dict[str, int]:
    """How much of the user each store still holds."""
    message_filter = {
        "tenant_id": tenant,
        "$or": [{"user_id": user}, {"conversation_id": {"$in": conversations}}],
    }
    return {
        "messages": db["messages"].count_documents(message_filter),
        "conversations": db["conversations"].count_documents(
            {"tenant_id": tenant, "user_id": user}
        ),
        "audit": db["audit"].count_documents(
            {"tenant_id": tenant, "conversation_id": {"$in": conversations}}
        ),
        "uploads": db["uploads"].count_documents({"tenant_id": tenant, "visitor_id": user}),
        "blobs": BlobStore(db).count(tenant),
        "webhook_deliveries": db["webhook_deliveries"].count_documents(
            {"tenant_id": tenant, "conversation_id": {"$in": conversations}}
        ),
        "pending": db[PENDING_COLLECTION].count_documents({"owner": {"$in": conversations}}),
        "sessions": sum(int(rdb.exists(session_key(tenant, c))) for c in conversations),
        "streams": int(rdb.exists(stream_key(tenant, "wgt_privacy", user))),
        "sequences": sum(int(rdb.exists(sequence_key(c))) for c in conversations),
    }


def test_an_erased_user_is_gone_from_every_store_and_from_the_conversation_list(
    platform: str, settings: Settings, db: Database[Any], redis_client: redis.Redis, tenant: str
) -> None:
    headers = tenant_headers(settings, tenant)
    for text in ("hello", "what are your opening hours?"):
        _completed(platform, headers, _send(platform, headers, "ana", text)["message_id"])
    kept = _send(platform, headers, "bob", "hello")
    _completed(platform, headers, kept["message_id"])
    conversations = sorted(
        str(doc["_id"]) for doc in db["conversations"].find({"tenant_id": tenant, "user_id": "ana"})
    )
    assert len(conversations) == 1
    # What the widget and the media processor would keep of her: a file, an upload, a stream.
    blob_id = BlobStore(db).put(tenant, b"\x89PNG her photo", "image/png", "photo.png")
    db["messages"].update_one(
        {"tenant_id": tenant, "user_id": "ana", "direction": "inbound"},
        {"$set": {"processing.media": {"type": "image", "blob_id": blob_id}}},
    )
    UploadRepository(db).create(tenant, "wgt_privacy", "ana", "image/png", "a.png", b"\x89PNG")
    redis_client.xadd(stream_key(tenant, "wgt_privacy", "ana"), {"type": "message"})
    db["webhook_deliveries"].insert_one(  # a signed delivery of one of her events, logged
        {"_id": new_id("msg"), "tenant_id": tenant, "conversation_id": conversations[0]}
    )
    before = _everything_of(db, redis_client, tenant, "ana", conversations)
    assert all(
        before[store] > 0
        for store in (
            "messages",
            "conversations",
            "audit",
            "uploads",
            "blobs",
            "sessions",
            "streams",
            "webhook_deliveries",
            "sequences",
        )
    ), before

    exported = httpx.post(f"{platform}/v1/privacy/export", headers=headers, json={"user_id": "ana"})
    assert exported.status_code == 200, exported.text
    export = exported.json()
    assert [c["id"] if "id" in c else c["_id"] for c in export["conversations"]] == conversations
    assert {m["text"] for m in export["messages"] if m["direction"] == "inbound"} == {
        "hello",
        "what are your opening hours?",
    }
    assert all(m["user_id"] == "ana" for m in export["messages"])
    [photo] = export["files"]
    assert base64.b64decode(photo["data_base64"]) == b"\x89PNG her photo"

    reader = EventReader(settings.kafka_bootstrap, CHAT_TOPICS)
    try:
        erased = httpx.post(
            f"{platform}/v1/privacy/erase", headers=headers, json={"user_id": "ana"}
        )
        assert erased.status_code == 200, erased.text
        receipt = erased.json()
        wanted = {(topic, conversations[0].encode()) for topic in CHAT_TOPICS}
        reader.collect(lambda _: wanted <= set(reader.tombstones), timeout=30)
    finally:
        reader.close()

    assert wanted <= set(reader.tombstones)
    assert _everything_of(db, redis_client, tenant, "ana", conversations) == dict.fromkeys(
        before, 0
    )
    assert _listed_users(platform, headers) == {"bob"}
    assert db["messages"].count_documents({"tenant_id": tenant, "user_id": "bob"}) == 2
    assert receipt["conversations"] == conversations
    assert receipt["erased"]["messages"] == 4 and receipt["erased"]["blobs"] == 1
    assert receipt["tombstones"]["acknowledged"] == receipt["tombstones"]["expected"] > 0
    assert "ana" not in erased.text  # the receipt never names the user
    found = httpx.get(f"{platform}/v1/privacy/erasures", headers=headers, params={"user_id": "ana"})
    assert [r["id"] for r in found.json()["data"]] == [receipt["id"]]

    # She comes back: a new conversation, never the erased one's id.
    again = _send(platform, headers, "ana", "hello again")
    assert again["conversation_id"] not in conversations
    _completed(platform, headers, again["message_id"])
    assert _listed_users(platform, headers) == {"ana", "bob"}


def test_an_erasure_waits_for_a_turn_in_flight_and_bad_input_is_refused(
    platform: str, settings: Settings, db: Database[Any], tenant: str
) -> None:
    headers = tenant_headers(settings, tenant)
    # A turn of hers between the generate and deliver stages (written here, not by the chain,
    # which would move it on while the test looks).
    db["messages"].insert_one(
        {
            "_id": new_id("msg"),
            "tenant_id": tenant,
            "conversation_id": new_id("conv"),
            "direction": "inbound",
            "user_id": "cy",
            "status": "generated",
            "created_at": utcnow(),
        }
    )
    refused = httpx.post(f"{platform}/v1/privacy/erase", headers=headers, json={"user_id": "cy"})
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/turn-in-flight") and refused.headers["Retry-After"]
    assert db["erasures"].count_documents({"tenant_id": tenant}) == 0
    assert db["messages"].count_documents({"tenant_id": tenant, "user_id": "cy"}) >= 1

    for body in ({}, {"user_id": ""}, {"user_id": 7}, {"user_id": "cy", "tenant_id": "other"}):
        answer = httpx.post(f"{platform}/v1/privacy/erase", headers=headers, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert db["erasures"].count_documents({"tenant_id": tenant}) == 0
    no_scope = tenant_headers(settings, tenant, scopes=["messages:read"])
    forbidden = httpx.post(
        f"{platform}/v1/privacy/export", headers=no_scope, json={"user_id": "cy"}
    )
    assert forbidden.status_code == 403
