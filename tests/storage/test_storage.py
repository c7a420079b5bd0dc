"""Repositories on the real MongoDB-wire server and Redis: dedupe, conversations, sessions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from cryptography.fernet import Fernet
from pymongo.database import Database

from core.crypto import SecretBox
from core.errors import ConfigurationError, Conflict, NotFound
from core.ids import new_id
from core.timeutil import utcnow
from ingress.api_models import ChannelConfigView, json_of
from storage.channel_configs import ChannelConfigRepository
from storage.conversations import ConversationRepository
from storage.messages import MessageRepository
from storage.sessions import SessionStore, session_key


def _message(tenant: str, dedupe_key: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "_id": new_id("msg"),
        "tenant_id": tenant,
        "conversation_id": "conv_x",
        "direction": "inbound",
        "dedupe_key": dedupe_key,
        "status": "accepted",
        "created_at": now,
    }


def test_ten_concurrent_inserts_of_one_dedupe_key_store_one_message(
    db: Database[Any], tenant: str
) -> None:
    repo = MessageRepository(db)
    with ThreadPoolExecutor(10) as pool:
        results = list(
            pool.map(lambda _: repo.insert_once(_message(tenant, "wa:wamid.1")), range(10))
        )
    assert sum(created for _, created in results) == 1
    assert len({stored["_id"] for stored, _ in results}) == 1
    assert db["messages"].count_documents({"tenant_id": tenant}) == 1


def test_the_same_dedupe_key_in_two_tenants_is_two_messages(db: Database[Any], tenant: str) -> None:
    repo = MessageRepository(db)
    assert repo.insert_once(_message(tenant, "k"))[1]
    assert repo.insert_once(_message(tenant + "b", "k"))[1]


def test_concurrent_first_messages_share_one_open_conversation(
    db: Database[Any], tenant: str
) -> None:
    repo = ConversationRepository(db)
    with ThreadPoolExecutor(10) as pool:
        found = list(
            pool.map(lambda n: repo.resolve_open(tenant, "api", "ana", f"m{n}"), range(10))
        )
    assert len(set(found)) == 1
    assert db["conversations"].count_documents({"tenant_id": tenant}) == 1


def test_a_conversation_is_scoped_to_tenant_user_and_account(
    db: Database[Any], tenant: str
) -> None:
    repo = ConversationRepository(db)
    base = repo.resolve_open(tenant, "whatsapp", "u1", "m1", scope="chc_a")
    assert repo.resolve_open(tenant, "whatsapp", "u1", "m2", scope="chc_b") != base
    assert repo.resolve_open(tenant, "whatsapp", "u2", "m3", scope="chc_a") != base
    assert repo.resolve_open(tenant + "x", "whatsapp", "u1", "m4", scope="chc_a") != base
    assert repo.resolve_open(tenant, "whatsapp", "u1", "m5", scope="chc_a") == base
    with pytest.raises(NotFound):
        repo.get(tenant + "x", base)


def test_history_is_bounded_and_oldest_first(db: Database[Any], tenant: str) -> None:
    repo = MessageRepository(db)
    ids = []
    for _ in range(8):
        doc = _message(tenant, new_id("k"))
        doc["conversation_id"] = "conv_h"
        repo.insert_once(doc)
        ids.append(doc["_id"])
    assert [m["_id"] for m in repo.history(tenant, "conv_h", ids[-1], 3)] == ids[-4:-1]
    assert [m["_id"] for m in repo.page(tenant, "conv_h", ids[2], 2)] == ids[3:5]


def test_sessions_carry_the_tenant_and_expire(redis_client: redis.Redis, tenant: str) -> None:
    store = SessionStore(redis_client, ttl_seconds=120)
    session = store.refresh(tenant, "conv_s", "ana", "api")
    assert session["context"] == {}
    store.apply_context(tenant, "conv_s", {"language": "pt"}, [])
    store.apply_context(tenant, "conv_s", {"topic": "hours"}, ["language"])
    loaded = store.load(tenant, "conv_s")
    assert loaded is not None and loaded["context"] == {"topic": "hours"}
    assert 0 < int(redis_client.ttl(session_key(tenant, "conv_s"))) <= 120
    assert store.load(tenant + "x", "conv_s") is None


def test_channel_secrets_are_sealed_at_rest_and_never_shown(db: Database[Any], tenant: str) -> None:
    repo = ChannelConfigRepository(db, SecretBox(Fernet.generate_key()))
    account = new_id("acct")
    # Long, distinctive plaintexts: a short one (say "s3") can occur by chance inside the
    # base64 ciphertext, and the check below would then fail for no fault of the code.
    secrets = {"bot_token": "xoxb-FAKE-1-bot-token", "signing_secret": "FAKE-signing-secret-3"}
    doc = repo.create(tenant, "slack", account, secrets, {})
    raw = db["channel_configs"].find_one({"_id": doc["_id"]})
    assert raw is not None
    assert not any(value in str(raw) for value in secrets.values())
    config = repo.for_webhook("slack", doc["_id"])
    assert config.tenant_id == tenant
    assert config.secrets == secrets
    assert "xoxb" not in repr(config)
    view = json_of(ChannelConfigView.of(doc, "https://parley.example"))
    assert view["webhook_url"] == f"https://parley.example/webhooks/slack/{doc['_id']}"
    assert view["secrets_set"] == ["bot_token", "signing_secret"]
    assert not any(value in str(view) for value in secrets.values())
    with pytest.raises(Conflict):
        repo.create(tenant + "b", "slack", account, {"bot_token": "x", "signing_secret": "y"}, {})
    with pytest.raises(NotFound):
        repo.for_webhook("whatsapp", doc["_id"])
    with pytest.raises(ConfigurationError):
        ChannelConfigRepository(db, SecretBox(Fernet.generate_key())).for_webhook(
            "slack", doc["_id"]
        )


def test_concurrent_audits_of_one_turn_keep_one_record_and_raise_nothing(
    db: Database[Any], tenant: str
) -> None:
    from storage.audit import AuditRepository

    repo = AuditRepository(db)
    turn = new_id("msg")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: repo.record_turn(tenant, turn, {"run": n}), range(16)))
    assert db["audit"].count_documents({"_id": f"turn:{turn}"}) == 1
    assert repo.get_turn(tenant, turn) is not None
    assert repo.get_turn("t_other", turn) is None


def test_the_ingress_remembers_a_resolved_conversation_for_its_window(
    db: Database[Any], tenant: str
) -> None:
    remembering, forgetful = ConversationRepository(db, 60), ConversationRepository(db)
    conversation_id = remembering.resolve_open(tenant, "api", "ana", "m1")
    db["conversations"].delete_one({"_id": conversation_id})

    # Remembered: answered without a read, so the removal goes unnoticed and nothing is made.
    assert remembering.resolve_open(tenant, "api", "ana", "m2") == conversation_id
    assert db["conversations"].count_documents({"tenant_id": tenant}) == 0
    # Not remembered: looked up, found missing, re-created under the same id.
    assert forgetful.resolve_open(tenant, "api", "ana", "m3") == conversation_id
    assert db["conversations"].find_one({"_id": conversation_id})["started_by"] == "m3"
