"""A benchmark database: the tenant, its WhatsApp channel config, a token, and (R6) a history
of messages already stored, shaped like the ones Parley writes.

History goes in with ``insert_many`` in big batches straight into MongoDB: driving it through
the pipeline would take hours on FerretDB. Each seeded turn is an inbound message and its reply,
completed, with their outbox events, in conversations of users the load never writes as.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo.database import Database

from core.chat_events import message_received, message_sent
from core.crypto import SecretBox
from core.settings import Settings
from core.timeutil import utcnow
from core.tokens import mint_token
from storage.channel_configs import ChannelConfigRepository
from storage.messages import reply_id
from storage.mongo import ensure_indexes
from storage.outbox import with_outbox
from storage.tenants import TenantRepository

TENANT = "bench"
PHONE_NUMBER_ID = "200000000000777"
BATCH = 5000
TURNS_PER_CONVERSATION = 10
# Far above any load: R1 measures acceptance, not the rate limiter's refusals.
UNLIMITED = {
    "per_second": 1_000_000,
    "burst": 1_000_000,
    "credential_per_second": 1_000_000,
    "credential_burst": 1_000_000,
}


@dataclass(frozen=True)
class Tenancy:
    config_id: str
    app_secret: str
    token: str

    @property
    def webhook_path(self) -> str:
        return f"/webhooks/whatsapp/{self.config_id}"


def prepare(
    db: Database[Any], settings: Settings, tenant_settings: dict[str, Any] | None = None
) -> Tenancy:
    ensure_indexes(db)
    tenants = TenantRepository(db)
    if hasattr(tenants, "create"):
        own = {"rate_limits": UNLIMITED, **(tenant_settings or {})}
        tenants.create(TENANT, "Benchmark tenant", own)
    else:  # a commit from before per-tenant settings (the suite also measures older commits)
        tenants.ensure(TENANT, "Benchmark tenant")
    app_secret = secrets.token_hex(16)
    config = ChannelConfigRepository(db, SecretBox(settings.require_master_key())).create(
        TENANT,
        "whatsapp",
        PHONE_NUMBER_ID,
        {"access_token": "bench-token", "app_secret": app_secret, "verify_token": "bench"},
        {"quote_replies": "true"},
    )
    token = mint_token(settings.require_jwt_secret(), TENANT, "bench", 6 * 3600)
    return Tenancy(config["_id"], app_secret, token)


def seed_history(db: Database[Any], config_id: str, messages: int) -> float:
    """Store ``messages`` messages (half inbound, half replies); returns the seconds it took."""
    started = time.monotonic()
    turns = messages // 2
    conversations = max(1, turns // TURNS_PER_CONVERSATION)
    base = utcnow() - timedelta(days=30)
    batch: list[dict[str, Any]] = []
    conversation_docs = [_conversation(c, config_id, base) for c in range(conversations)]
    for start in range(0, conversations, BATCH):
        db["conversations"].insert_many(conversation_docs[start : start + BATCH], ordered=False)
    for t in range(turns):
        at = base + timedelta(seconds=t)
        inbound, reply = _turn(t, t % conversations, config_id, at)
        batch += [inbound, reply]
        if len(batch) >= BATCH:
            db["messages"].insert_many(batch, ordered=False)
            batch = []
    if batch:
        db["messages"].insert_many(batch, ordered=False)
    return time.monotonic() - started


def _conversation_id(c: int) -> str:
    return f"conv_seeded{c:010d}"


def _conversation(c: int, config_id: str, at: Any) -> dict[str, Any]:
    user = f"1444{c:08d}"
    return {
        "_id": _conversation_id(c),
        "tenant_id": TENANT,
        "open_key": f"whatsapp:{config_id}:{user}",
        "channel": "whatsapp",
        "user_id": user,
        "state": "open",
        "channel_config_id": config_id,
        "started_by": f"msg_seeded{c:010d}",
        "created_at": at,
        "last_message_at": at,
        "updated_at": at,
        "recent": [],
        "outbox": [],
    }


def _turn(t: int, c: int, config_id: str, at: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    mid = f"msg_seeded{t:012d}"
    user = f"1444{c:08d}"
    journey = {s: at for s in ("accepted", "processed", "generated", "delivered", "completed")}
    inbound = {
        "_id": mid,
        "tenant_id": TENANT,
        "conversation_id": _conversation_id(c),
        "channel": "whatsapp",
        "direction": "inbound",
        "user_id": user,
        "text": "Hello, what are your opening hours this week?",
        "status": "completed",
        "journey": journey,
        "created_at": at,
        "updated_at": at,
        "dedupe_key": f"whatsapp:{PHONE_NUMBER_ID}::wamid.SEEDED{t:012d}",
        "provider_message_id": f"wamid.SEEDED{t:012d}",
        "channel_config_id": config_id,
        "kind": "text",
        "content": {},
        "reply_to": {"wamid": f"wamid.SEEDED{t:012d}"},
        "user_name": "Seeded User",
        "metadata": {},
        "processing": {"normalized_text": "hello, what are your opening hours this week?"},
        "reply_id": reply_id(mid),
    }
    inbound = with_outbox(inbound, [message_received(inbound)])
    text = "We are open Monday to Friday, 9:00 to 18:00."
    reply = {
        "_id": reply_id(mid),
        "tenant_id": TENANT,
        "conversation_id": _conversation_id(c),
        "channel": "whatsapp",
        "direction": "outbound",
        "user_id": user,
        "in_reply_to": mid,
        "channel_config_id": config_id,
        "dedupe_key": f"reply:{reply_id(mid)}",
        "text": text,
        "parts": [{"type": "text", "text": text}],
        "engine": {"intent": "opening_hours", "backend": "rules"},
        "status": "delivered",
        "journey": {s: at for s in ("generated", "sending", "sent", "delivered")},
        "created_at": at,
        "updated_at": at,
        "provider_message_ids": [f"wamid.SEEDEDOUT{t:012d}"],
        "sent_parts": 1,
    }
    reply = with_outbox(reply, [message_sent(reply, reply["provider_message_ids"], at)])
    return inbound, reply
