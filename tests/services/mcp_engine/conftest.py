"""Fixtures that run the reference MCP engine as a real gRPC server on a free 127.0.0.1 port."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from pydantic import SecretStr

from protos.engine_client import EngineClient
from services.mcp_engine import serve
from services.mcp_engine.backend import Backend
from services.mcp_engine.openai_chat import OpenAIChatBackend
from services.mcp_engine.rules import RulesBackend
from tests.fakes.openai_server import FakeOpenAI

StartEngine = Callable[[Backend], EngineClient]
StartOpenAIEngine = Callable[..., EngineClient]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    """A 127.0.0.1 port nothing listens on (until the test binds it)."""
    return free_port()


@pytest.fixture
def closed_addr(unused_port: int) -> str:
    """An address on which nothing listens."""
    return f"127.0.0.1:{unused_port}"


@pytest.fixture
def start_engine() -> Iterator[StartEngine]:
    """Starts engines in-process on free ports; returns a connected client for each."""
    with ExitStack() as stack:

        def start(backend: Backend) -> EngineClient:
            port = free_port()
            server = serve(port, backend)
            stack.callback(backend.close)
            stack.callback(lambda: server.stop(grace=1).wait())
            client = EngineClient(f"127.0.0.1:{port}")
            stack.callback(client.close)
            return client

        yield start


@pytest.fixture
def client(start_engine: StartEngine) -> EngineClient:
    """A client of an engine answering from the shipped default rules."""
    return start_engine(RulesBackend.from_file())


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def start_openai_engine(start_engine: StartEngine, fake_openai: FakeOpenAI) -> StartOpenAIEngine:
    """Starts an engine whose openai backend talks to the fake server."""

    def start(
        *, api_key: str | None, model: str, timeout_seconds: float = 0.5, reply_parts: bool = True
    ) -> EngineClient:
        backend = OpenAIChatBackend(
            base_url=fake_openai.base_url,
            model=model,
            api_key=SecretStr(api_key) if api_key is not None else None,
            timeout_seconds=timeout_seconds,
            reply_parts=reply_parts,
        )
        return start_engine(backend)

    return start
