"""``parley templates sync``: a tenant's WhatsApp templates read from Graph and stored."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet

from core.crypto import SecretBox
from storage.channel_configs import ChannelConfigRepository
from storage.templates import TemplateRepository
from tests.fakes.whatsapp import DEFAULT_WABA_ID, FakeWhatsApp
from tests.processes import run_parley

TOKEN = "FAKE_whatsapp_access_token"


@pytest.fixture
def fake() -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp(access_token=TOKEN) as server:
        yield server


def test_sync_stores_the_account_templates_and_a_second_sync_drops_the_removed(
    fake: FakeWhatsApp, db: Any
) -> None:
    tenant = "t_" + uuid.uuid4().hex[:10]
    key = os.environ.get("PARLEY_MASTER_KEY") or Fernet.generate_key().decode()
    configs = ChannelConfigRepository(db, SecretBox(key))
    doc = configs.create(
        tenant,
        "whatsapp",
        "2" + str(uuid.uuid4().int)[:14],
        {"access_token": TOKEN, "app_secret": "FAKE_s", "verify_token": "FAKE_v"},
        {"business_account_id": DEFAULT_WABA_ID},
    )
    fake.add_template("promo", [{"type": "BODY", "text": "{{1}} off"}], status="REJECTED")
    env = {"PARLEY_MASTER_KEY": key, "PARLEY_WHATSAPP_API_BASE": fake.base_url}

    done = run_parley("templates", "sync", "--tenant", tenant, **env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "channel_config_id": doc["_id"],
        "business_account_id": DEFAULT_WABA_ID,
        "templates": 2,
        "approved": 1,
    }
    stored = {
        (d["name"], d["status"]): d["parameters"] for d in TemplateRepository(db).list(tenant)
    }
    assert stored == {
        ("order_shipped_v1", "APPROVED"): {"header": 1, "body": 2, "button:0": 1},
        ("promo", "REJECTED"): {"body": 1},
    }
    assert TOKEN not in done.stdout + done.stderr

    fake.definitions[DEFAULT_WABA_ID].pop()
    assert run_parley("templates", "sync", "--tenant", tenant, **env).returncode == 0
    assert [d["name"] for d in TemplateRepository(db).list(tenant)] == ["order_shipped_v1"]


def test_sync_without_a_waba_says_so_and_stores_nothing(db: Any) -> None:
    tenant = "t_" + uuid.uuid4().hex[:10]
    done = run_parley("templates", "sync", "--tenant", tenant)
    assert done.returncode != 0
    assert "business_account_id" in done.stderr
    assert TemplateRepository(db).list(tenant) == []
