"""With the engine down the client fails fast once its breaker opens, and recovers after the open
time, against a real engine that the test stops and starts again on the same port."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest

from core.errors import PermanentError, TransientError
from protos import mcp_engine_pb2 as pb
from protos.engine_client import EngineClient
from services.mcp_engine import serve
from services.mcp_engine.rules import RulesBackend
from tests.services.mcp_engine.conftest import free_port

TURN = pb.GenerateRequest(request_id="msg-1", tenant_id="acme", conversation_id="c-1", text="hi")
TIMEOUT = 0.5  # a dead engine costs each call its whole deadline (the calls wait for ready)
OPEN_SECONDS = 10.0


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Engine:
    """An in-process engine on a fixed port that a test can stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self._backend = RulesBackend.from_file()
        self._server: grpc.Server | None = None

    def start(self) -> None:
        assert self._server is None, "the engine is already running"
        self._server = serve(self.port, self._backend)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None

    def close(self) -> None:
        self.stop()
        self._backend.close()


@pytest.fixture
def engine() -> Iterator[Engine]:
    running = Engine()
    running.start()
    yield running
    running.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(engine: Engine, clock: FakeClock) -> Iterator[EngineClient]:
    client = EngineClient(
        f"127.0.0.1:{engine.port}",
        breaker_threshold=2,
        breaker_open_seconds=OPEN_SECONDS,
        clock=clock,
    )
    yield client
    client.close()


def open_the_circuit(client: EngineClient, engine: Engine) -> None:
    engine.stop()
    for _ in range(2):
        with pytest.raises(TransientError, match="engine GenerateResponse failed: DEADLINE"):
            client.generate(TURN, timeout=TIMEOUT)


def wait_until_serving(client: EngineClient) -> None:
    """Waits (in real time) for the client's channel to reach the restarted engine."""
    deadline = time.monotonic() + 15
    while not client.is_serving(timeout=0.5):
        assert time.monotonic() < deadline, "the engine did not come back"
        time.sleep(0.05)


def test_an_engine_that_is_down_fails_with_a_transient_error_then_fails_fast(
    client: EngineClient, engine: Engine
) -> None:
    open_the_circuit(client, engine)

    with pytest.raises(TransientError, match="engine circuit open after 2 failures"):
        client.generate(TURN, timeout=TIMEOUT)
    with pytest.raises(TransientError, match="engine circuit open"):
        client.update_context(pb.UpdateContextRequest(tenant_id="acme"), timeout=TIMEOUT)
    with pytest.raises(TransientError, match="engine circuit open"):
        list(client.stream(TURN, timeout=TIMEOUT))


def test_an_open_circuit_fails_fast_while_the_engine_is_back_and_closes_after_its_open_time(
    client: EngineClient, engine: Engine, clock: FakeClock
) -> None:
    open_the_circuit(client, engine)
    engine.start()
    wait_until_serving(client)  # the health check does not go through the breaker

    with pytest.raises(TransientError, match="circuit open"):  # no call goes out yet
        client.generate(TURN, timeout=TIMEOUT)
    clock.now += OPEN_SECONDS
    assert client.generate(TURN, timeout=5.0).parts  # the probe
    assert client.generate(TURN, timeout=5.0).parts  # closed again


def test_a_failed_probe_opens_the_circuit_again(
    client: EngineClient, engine: Engine, clock: FakeClock
) -> None:
    open_the_circuit(client, engine)
    clock.now += OPEN_SECONDS

    with pytest.raises(TransientError, match="DEADLINE_EXCEEDED"):  # the probe reaches out
        client.generate(TURN, timeout=TIMEOUT)

    with pytest.raises(TransientError, match="circuit open"):
        client.generate(TURN, timeout=TIMEOUT)


def test_permanent_errors_leave_the_circuit_closed(engine: Engine) -> None:
    client = EngineClient(f"127.0.0.1:{engine.port}", breaker_threshold=1)
    try:
        for _ in range(3):
            with pytest.raises(PermanentError, match="INVALID_ARGUMENT"):
                client.update_context(pb.UpdateContextRequest(tenant_id="acme"), timeout=5.0)

        assert client.generate(TURN, timeout=5.0).parts
    finally:
        client.close()


def test_a_stream_the_caller_stops_early_leaves_the_circuit_closed(engine: Engine) -> None:
    client = EngineClient(f"127.0.0.1:{engine.port}", breaker_threshold=1)
    try:
        chunks = client.stream(TURN, timeout=5.0)
        next(chunks)
        chunks.close()

        assert client.generate(TURN, timeout=5.0).parts
    finally:
        client.close()
