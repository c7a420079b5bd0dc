"""A turn's tenant engine settings, through a real engine, client and fake chat-completions server:
model, temperature and system prompt reach the OpenAI request; ``backend`` picks the backend for
the turn, falling back to the engine's configured one when it cannot serve the asked one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.errors import ConfigurationError
from core.settings import Settings
from protos import mcp_engine_pb2 as pb
from protos.engine_client import EngineClient
from services.mcp_engine.backend import Backend
from services.mcp_engine.chooser import BackendChooser
from services.mcp_engine.openai_chat import SYSTEM_PROMPT, OpenAIChatBackend
from services.mcp_engine.reply_schema import response_format
from services.mcp_engine.rules import RulesBackend
from services.mcp_engine.server import build_backend
from tests.fakes.openai_server import FakeOpenAI

ASKED = response_format()  # every whole turn asks for reply parts
KEY = "sk-parley-test-0123456789abcdef"
MODEL = "engine-default-model"
TIMEOUT = 5.0
PROMPT = "You are Acme's bakery assistant. Answer in one sentence."

StartEngine = Callable[[Backend], EngineClient]


def turn(engine: pb.EngineSettings | None = None, tenant_id: str = "acme") -> pb.GenerateRequest:
    request = pb.GenerateRequest(
        request_id="msg-2",
        tenant_id=tenant_id,
        conversation_id="conv-1",
        text="What are your opening hours?",
        engine=engine,
    )
    request.history.add(message_id="msg-1", direction=pb.DIRECTION_INBOUND, text="hi")
    return request


def default_messages(system_prompt: str = SYSTEM_PROMPT) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": "hi"},
        {"role": "user", "content": "What are your opening hours?"},
    ]


def openai_backend(fake: FakeOpenAI) -> OpenAIChatBackend:
    return OpenAIChatBackend(
        base_url=fake.base_url, model=MODEL, api_key=SecretStr(KEY), timeout_seconds=2.0
    )


def both(fake: FakeOpenAI, default: str) -> BackendChooser:
    """An engine serving rules and openai, answering with ``default`` unless asked otherwise."""
    return BackendChooser(
        default, {"rules": RulesBackend.from_file(), "openai": openai_backend(fake)}
    )


def test_tenant_settings_reach_the_chat_completion_request(
    start_engine: StartEngine, fake_openai: FakeOpenAI
) -> None:
    client = start_engine(both(fake_openai, default="rules"))
    settings = pb.EngineSettings(
        backend="openai", model="tenant-model", temperature=0.0, system_prompt=PROMPT
    )

    reply = client.generate(turn(settings), TIMEOUT)

    assert reply.backend == "openai"
    [sent] = fake_openai.requests
    assert sent.body == {
        "model": "tenant-model",
        "messages": default_messages(PROMPT),  # the tenant's prompt replaces the default one
        "temperature": 0.0,  # a temperature of 0 is sent, not mistaken for "unset"
        "response_format": ASKED,
    }


def test_without_settings_the_request_is_the_engines_default(
    start_engine: StartEngine, fake_openai: FakeOpenAI
) -> None:
    client = start_engine(both(fake_openai, default="openai"))

    client.generate(turn(), TIMEOUT)
    client.generate(turn(pb.EngineSettings()), TIMEOUT)  # an empty message is no settings

    assert [sent.body for sent in fake_openai.requests] == [
        {"model": MODEL, "messages": default_messages(), "response_format": ASKED},
        {"model": MODEL, "messages": default_messages(), "response_format": ASKED},
    ]


def test_each_setting_left_out_keeps_its_default(
    start_engine: StartEngine, fake_openai: FakeOpenAI
) -> None:
    client = start_engine(both(fake_openai, default="openai"))

    client.generate(turn(pb.EngineSettings(temperature=1.5)), TIMEOUT)
    client.generate(turn(pb.EngineSettings(model="only-the-model")), TIMEOUT)
    client.generate(turn(pb.EngineSettings(system_prompt=PROMPT)), TIMEOUT)

    assert [sent.body for sent in fake_openai.requests] == [
        {
            "model": MODEL,
            "messages": default_messages(),
            "temperature": 1.5,
            "response_format": ASKED,
        },
        {"model": "only-the-model", "messages": default_messages(), "response_format": ASKED},
        {"model": MODEL, "messages": default_messages(PROMPT), "response_format": ASKED},
    ]


def test_settings_apply_to_streamed_turns(
    start_engine: StartEngine, fake_openai: FakeOpenAI
) -> None:
    client = start_engine(both(fake_openai, default="rules"))
    settings = pb.EngineSettings(backend="openai", model="tenant-model", temperature=0.7)

    chunks = list(client.stream(turn(settings), TIMEOUT))

    assert chunks[-1].final and chunks[-1].response.backend == "openai"
    [sent] = fake_openai.requests
    assert (sent.body["model"], sent.body["temperature"]) == ("tenant-model", 0.7)


def test_a_tenant_can_choose_rules_on_an_openai_engine(
    start_engine: StartEngine, fake_openai: FakeOpenAI
) -> None:
    client = start_engine(both(fake_openai, default="openai"))

    reply = client.generate(turn(pb.EngineSettings(backend="rules", model="unused")), TIMEOUT)

    assert (reply.backend, reply.intent) == ("rules", "opening_hours")
    assert fake_openai.requests == []
    # Tenants without settings on the same engine still get the configured backend.
    assert client.generate(turn(tenant_id="other"), TIMEOUT).backend == "openai"


@pytest.mark.parametrize("asked", ["openai", "gpt-9"])
def test_a_backend_the_engine_cannot_serve_falls_back_and_is_logged(
    start_engine: StartEngine,
    fake_openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
    asked: str,
) -> None:
    # No OpenAI key: this engine serves rules only.
    settings = Settings(
        engine_backend="rules", openai_api_key=None, openai_base_url=fake_openai.base_url
    )
    chooser = build_backend(settings)
    assert chooser.names == ["rules"]
    client = start_engine(chooser)
    caplog.set_level(logging.WARNING, logger="services.mcp_engine.chooser")

    replies = [
        client.generate(turn(pb.EngineSettings(backend=asked, model="m")), TIMEOUT)
        for _ in range(3)
    ]

    assert [(r.backend, r.intent) for r in replies] == [("rules", "opening_hours")] * 3
    assert fake_openai.requests == []
    warnings = [r.getMessage() for r in caplog.records if r.name == "services.mcp_engine.chooser"]
    assert len(warnings) == 1, warnings  # once per tenant and asked backend, not per turn
    assert f"tenant acme asks for the {asked!r} backend" in warnings[0]
    assert "answered by rules" in warnings[0]


def test_an_engine_with_a_key_serves_openai_beside_its_configured_rules(
    start_engine: StartEngine, fake_openai: FakeOpenAI
) -> None:
    settings = Settings(
        engine_backend="rules",
        openai_api_key=KEY,
        openai_base_url=fake_openai.base_url,
        openai_model="from-settings",
    )
    chooser = build_backend(settings)
    assert chooser.names == ["rules", "openai"]
    client = start_engine(chooser)

    assert client.generate(turn(), TIMEOUT).backend == "rules"
    assert fake_openai.requests == []
    assert client.generate(turn(pb.EngineSettings(backend="openai")), TIMEOUT).backend == "openai"
    [sent] = fake_openai.requests
    assert (sent.body["model"], sent.headers["authorization"]) == ("from-settings", f"Bearer {KEY}")


def test_an_unloadable_rules_file_costs_an_openai_engine_only_its_rules(
    start_engine: StartEngine, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    settings = Settings(
        engine_backend="openai",
        openai_base_url=fake_openai.base_url,
        engine_rules_file=str(tmp_path / "missing.json"),
    )
    chooser = build_backend(settings)
    assert chooser.names == ["openai"]
    client = start_engine(chooser)

    assert client.generate(turn(pb.EngineSettings(backend="rules")), TIMEOUT).backend == "openai"


def test_an_unloadable_rules_file_still_stops_a_rules_engine(tmp_path: Path) -> None:
    settings = Settings(engine_backend="rules", engine_rules_file=str(tmp_path / "missing.json"))

    with pytest.raises(ConfigurationError, match=r"missing\.json"):
        build_backend(settings)
