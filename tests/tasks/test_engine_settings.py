"""A tenant's stored engine settings reach the engine on every turn: the ``generate`` stage called
directly on the real MongoDB-wire server and Redis, against a real gRPC engine serving rules and
openai, whose openai backend talks to the fake chat-completions server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from pydantic import SecretStr
from pymongo.database import Database
from test_tasks import accept
from testenv import ENGINE_PORT

from core.settings import Settings
from protos import mcp_engine_pb2 as pb
from services.mcp_engine.chooser import BackendChooser
from services.mcp_engine.openai_chat import OpenAIChatBackend
from services.mcp_engine.reply_schema import response_format
from services.mcp_engine.rules import RulesBackend
from services.mcp_engine.server import serve
from storage.messages import reply_id
from storage.tenants import TenantDirectory, TenantRepository
from tasks.generate import generate
from tasks.process import process
from tasks.runtime import TenantEngineSettings
from tests.fakes.openai_server import FakeOpenAI

ENGINE_MODEL = "engine-default-model"
PROMPT = "You are Acme's bakery assistant."


class RecordingChooser(BackendChooser):
    """The real chooser, keeping every request the engine received."""

    def __init__(self, fake: FakeOpenAI) -> None:
        openai = OpenAIChatBackend(fake.base_url, ENGINE_MODEL, SecretStr("sk-test"), 2.0)
        super().__init__("rules", {"rules": RulesBackend.from_file(), "openai": openai})
        self.requests: list[pb.GenerateRequest] = []
        self._record = threading.Lock()

    def generate(self, request: pb.GenerateRequest) -> pb.GenerateResponse:
        with self._record:
            self.requests.append(request)
        return super().generate(request)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply_text="Fresh bread from 7 am.") as fake:
        yield fake


@pytest.fixture
def engine(fake_openai: FakeOpenAI) -> Iterator[RecordingChooser]:
    backend = RecordingChooser(fake_openai)
    server: grpc.Server = serve(ENGINE_PORT, backend)
    yield backend
    server.stop(1).wait()
    backend.close()


def answer(db: Database[Any], tenant: str, text: str) -> dict[str, Any]:
    message_id = accept(db, tenant, text)
    process(tenant, message_id)
    generate(tenant, message_id)
    reply = db["messages"].find_one({"_id": reply_id(message_id)})
    assert reply is not None
    return reply


def test_stored_engine_settings_reach_the_engine_request(
    engine: RecordingChooser, fake_openai: FakeOpenAI, db: Database[Any], tenant: str
) -> None:
    settings = {"backend": "openai", "model": "acme-model", "temperature": 0.0}
    TenantRepository(db).create(tenant, "Acme", {"engine": {**settings, "system_prompt": PROMPT}})

    reply = answer(db, tenant, "When do you open?")

    [request] = engine.requests
    assert request.HasField("engine")
    assert request.engine == pb.EngineSettings(
        backend="openai", model="acme-model", temperature=0.0, system_prompt=PROMPT
    )
    [sent] = fake_openai.requests
    assert sent.body == {
        "model": "acme-model",
        "messages": [
            {"role": "system", "content": PROMPT},
            # The language processor found English; the backend tells the model so.
            {"role": "system", "content": "Answer in English."},
            {"role": "user", "content": "When do you open?"},
        ],
        "temperature": 0.0,
        "response_format": response_format(),  # a whole turn asks for reply parts
    }
    assert reply["text"] == "Fresh bread from 7 am."
    assert reply["engine"]["backend"] == "openai"


@pytest.mark.parametrize("record", [None, {}, {"rate_limits": {"per_second": 5}}])
def test_a_tenant_without_engine_settings_gets_the_engines_defaults(
    engine: RecordingChooser,
    fake_openai: FakeOpenAI,
    db: Database[Any],
    tenant: str,
    record: dict[str, Any] | None,
) -> None:
    if record is not None:
        TenantRepository(db).create(tenant, "Plain", record)

    reply = answer(db, tenant, "What are your opening hours?")

    [request] = engine.requests
    assert not request.HasField("engine")
    assert fake_openai.requests == []
    assert (reply["engine"]["backend"], reply["engine"]["intent"]) == ("rules", "opening_hours")


def test_a_settings_change_applies_without_a_restart(
    engine: RecordingChooser,
    fake_openai: FakeOpenAI,
    db: Database[Any],
    settings: Settings,
    tenant: str,
) -> None:
    tenants = TenantRepository(db)
    tenants.create(tenant, "Acme", {"engine": {"backend": "openai", "system_prompt": PROMPT}})
    assert answer(db, tenant, "hello")["engine"]["backend"] == "openai"

    tenants.update(tenant, {"engine": {"backend": "rules"}})  # what PATCH .../tenants/{id} does
    time.sleep(settings.tenant_cache_seconds + 0.2)
    second = answer(db, tenant, "What are your opening hours?")

    assert second["engine"]["backend"] == "rules"
    assert [r.engine for r in engine.requests] == [
        pb.EngineSettings(backend="openai", system_prompt=PROMPT),
        pb.EngineSettings(backend="rules"),
    ]
    assert len(fake_openai.requests) == 1

    tenants.update(tenant, {"engine": None})  # removed: the defaults apply again
    time.sleep(settings.tenant_cache_seconds + 0.2)
    answer(db, tenant, "hi")
    assert not engine.requests[-1].HasField("engine")


def test_engine_settings_are_cached_for_the_ttl(db: Database[Any], tenant: str) -> None:
    now = [100.0]
    tenants = TenantRepository(db)
    cache = TenantEngineSettings(TenantDirectory(tenants, 2.0, clock=lambda: now[0]))
    assert cache.get(tenant) == {}  # no record: defaults

    tenants.create(tenant, "Acme", {"engine": {"model": "m1"}})
    now[0] += 1.0
    assert cache.get(tenant) == {}  # still within the TTL of the first read
    now[0] += 1.5
    assert cache.get(tenant) == {"model": "m1"}

    tenants.update(tenant, {"engine": {"model": "m2"}})
    now[0] += 1.9
    assert cache.get(tenant) == {"model": "m1"}
    now[0] += 0.2
    assert cache.get(tenant) == {"model": "m2"}
