"""A turn asked for again costs no second completion: the retry of a call that missed its
deadline waits for the first call's reply; and the deadlines are consistent, or nothing starts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.errors import TransientError
from core.settings import Settings
from protos import mcp_engine_pb2 as pb
from protos.engine_client import EngineClient
from services.mcp_engine.turn_calls import TurnCalls, turn_key
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[3]
StartOpenAIEngine = Callable[..., EngineClient]


def turn(tenant_id: str = "acme", request_id: str = "msg-1") -> pb.GenerateRequest:
    return pb.GenerateRequest(
        request_id=request_id, tenant_id=tenant_id, conversation_id="conv-1", text="Hello?"
    )


def completions(fake: FakeOpenAI) -> int:
    return sum(1 for request in fake.requests if request.path == "/v1/chat/completions")


def test_the_retry_of_a_call_that_missed_its_deadline_waits_for_it_instead_of_paying_twice(
    start_openai_engine: StartOpenAIEngine, fake_openai: FakeOpenAI
) -> None:
    fake_openai.hold()  # a completion slower than the caller's deadline
    client = start_openai_engine(api_key=None, model="m", timeout_seconds=5.0)
    with pytest.raises(TransientError, match="DEADLINE_EXCEEDED"):
        client.generate(turn(), timeout=0.5)

    with ThreadPoolExecutor(1) as pool:
        retry = pool.submit(client.generate, turn(), 10.0)
        fake_openai.let_go()
        reply = retry.result()

    assert [part.text for part in reply.parts] == [fake_openai.reply_text]
    assert completions(fake_openai) == 1


def test_a_turn_answered_already_is_answered_again_without_a_completion(
    start_openai_engine: StartOpenAIEngine, fake_openai: FakeOpenAI
) -> None:
    client = start_openai_engine(api_key=None, model="m")

    first = client.generate(turn(), timeout=5.0)
    again = client.generate(turn(), timeout=5.0)

    assert again == first
    assert completions(fake_openai) == 1


def test_a_turn_whose_call_failed_asks_the_backend_again(
    start_openai_engine: StartOpenAIEngine, fake_openai: FakeOpenAI
) -> None:
    client = start_openai_engine(api_key=None, model="m")
    fake_openai.answer_status(503)
    with pytest.raises(TransientError, match="UNAVAILABLE"):
        client.generate(turn(), timeout=5.0)
    fake_openai.answer_status(200)

    assert client.generate(turn(), timeout=5.0).parts[0].text == fake_openai.reply_text
    assert completions(fake_openai) == 2


def test_turns_are_told_apart_by_tenant_request_id_and_content(
    start_openai_engine: StartOpenAIEngine, fake_openai: FakeOpenAI
) -> None:
    client = start_openai_engine(api_key=None, model="m")
    reworded = turn()
    reworded.text = "Hello again?"

    for request in (turn("acme", "msg-1"), turn("globex", "msg-1"), turn("acme", "msg-2")):
        client.generate(request, timeout=5.0)
    client.generate(reworded, timeout=5.0)
    client.generate(turn("acme", ""), timeout=5.0)
    client.generate(turn("acme", ""), timeout=5.0)  # no request id: nothing to repeat

    assert completions(fake_openai) == 6


def test_a_reply_is_remembered_only_for_a_while() -> None:
    now = [0.0]
    calls = TurnCalls(remember_seconds=60, clock=lambda: now[0])
    answered: list[int] = []

    def call() -> pb.GenerateResponse:
        answered.append(1)
        return pb.GenerateResponse(intent=str(len(answered)))

    key = turn_key(turn())
    assert calls.answer(key, call, None).intent == "1"
    now[0] = 59.0
    assert calls.answer(key, call, None).intent == "1"
    now[0] = 61.0
    assert calls.answer(key, call, None).intent == "2"


def test_a_backend_timeout_that_does_not_end_before_the_callers_deadline_is_refused() -> None:
    with pytest.raises(ValidationError, match="PARLEY_OPENAI_TIMEOUT_SECONDS"):
        Settings(engine_timeout_seconds=5.0, openai_timeout_seconds=30.0)
    with pytest.raises(ValidationError, match="at least 1 s below"):
        Settings(engine_timeout_seconds=5.0, openai_timeout_seconds=4.5)
    assert Settings(engine_timeout_seconds=5.0, openai_timeout_seconds=4.0)


def test_the_engine_does_not_start_with_deadlines_that_do_not_nest(unused_port: int) -> None:
    env = {
        **os.environ,
        "PARLEY_ENGINE_TIMEOUT_SECONDS": "5",
        "PARLEY_OPENAI_TIMEOUT_SECONDS": "30",
    }
    command = [sys.executable, "-m", "services.mcp_engine", "--port", str(unused_port)]

    finished = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert finished.returncode != 0
    assert "PARLEY_OPENAI_TIMEOUT_SECONDS (30) must be at least 1 s below" in finished.stderr
