"""EngineClient maps gRPC failures to Parley's errors once, against real channels and servers."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from core.errors import PermanentError, TransientError
from protos import mcp_engine_pb2 as pb
from protos.engine_client import EngineClient
from tests.fakes.openai_server import FakeOpenAI

TURN = pb.GenerateRequest(request_id="msg-1", tenant_id="acme", conversation_id="c-1", text="hi")


def test_closed_port_is_transient(closed_addr: str) -> None:
    # Calls wait for the channel until their deadline, so a dead engine ends as DEADLINE_EXCEEDED.
    client = EngineClient(closed_addr)
    try:
        with pytest.raises(
            TransientError, match="engine GenerateResponse failed: DEADLINE_EXCEEDED"
        ):
            client.generate(TURN, timeout=1.0)
    finally:
        client.close()


def test_closed_port_is_transient_when_streaming(closed_addr: str) -> None:
    client = EngineClient(closed_addr)
    try:
        with pytest.raises(TransientError, match="engine StreamResponse failed: DEADLINE_EXCEEDED"):
            list(client.stream(TURN, timeout=1.0))
    finally:
        client.close()


def test_closed_port_is_transient_when_updating_context(closed_addr: str) -> None:
    client = EngineClient(closed_addr)
    request = pb.UpdateContextRequest(tenant_id="acme", conversation_id="c-1")
    try:
        with pytest.raises(TransientError, match="engine UpdateContext failed: DEADLINE_EXCEEDED"):
            client.update_context(request, timeout=1.0)
    finally:
        client.close()


def test_closed_port_is_not_serving(closed_addr: str) -> None:
    client = EngineClient(closed_addr)
    try:
        assert client.is_serving(timeout=0.5) is False
    finally:
        client.close()


def test_missed_deadline_is_transient(
    start_openai_engine: Callable[..., EngineClient], fake_openai: FakeOpenAI
) -> None:
    fake_openai.hang()
    client = start_openai_engine(api_key=None, model="m", timeout_seconds=2.0)

    with pytest.raises(TransientError, match="DEADLINE_EXCEEDED") as raised:
        client.generate(TURN, timeout=0.2)

    assert isinstance(raised.value.__cause__, grpc.RpcError)


def test_invalid_request_is_permanent(client: EngineClient) -> None:
    request = pb.UpdateContextRequest(tenant_id="acme")  # no conversation id

    with pytest.raises(PermanentError, match="UpdateContext failed: INVALID_ARGUMENT"):
        client.update_context(request, timeout=1.0)


class _Failed(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "why"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.UNAVAILABLE, TransientError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, TransientError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, TransientError),
        (grpc.StatusCode.ABORTED, TransientError),
        (grpc.StatusCode.INVALID_ARGUMENT, PermanentError),
        (grpc.StatusCode.FAILED_PRECONDITION, PermanentError),
        (grpc.StatusCode.UNIMPLEMENTED, PermanentError),
        (grpc.StatusCode.INTERNAL, PermanentError),
        (grpc.StatusCode.UNKNOWN, PermanentError),
    ],
)
def test_status_codes_map_to_one_error_each(code: grpc.StatusCode, error: type[Exception]) -> None:
    mapped = EngineClient.error("GenerateResponse", _Failed(code))

    assert type(mapped) is error
    assert str(mapped) == f"engine GenerateResponse failed: {code.name}: why"
