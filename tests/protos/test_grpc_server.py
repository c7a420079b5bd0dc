"""The gRPC server start-up every Parley server shares, on a real server and channel."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from testenv import free_port

from core.errors import ConfigurationError
from protos import mcp_engine_pb2
from protos.grpc_server import GrpcServer

SERVICE = mcp_engine_pb2.DESCRIPTOR.services_by_name["McpEngine"]


@pytest.fixture
def running() -> Iterator[tuple[GrpcServer, health_pb2_grpc.HealthStub]]:
    port = free_port()
    server = GrpcServer.start("Test server", SERVICE, lambda _: None, port)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield server, health_pb2_grpc.HealthStub(channel)
    channel.close()
    server.server.stop(grace=None).wait()


def status(health: health_pb2_grpc.HealthStub, service: str) -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    return int(health.Check(request, timeout=5.0, wait_for_ready=True).status)


def test_the_whole_server_and_its_service_report_serving(
    running: tuple[GrpcServer, health_pb2_grpc.HealthStub],
) -> None:
    _, health = running

    assert status(health, "") == health_pb2.HealthCheckResponse.SERVING
    assert status(health, "parley.engine.v1.McpEngine") == health_pb2.HealthCheckResponse.SERVING


def test_a_graceful_shutdown_reports_not_serving(
    running: tuple[GrpcServer, health_pb2_grpc.HealthStub],
) -> None:
    server, health = running

    server.health.enter_graceful_shutdown()

    assert status(health, "") == health_pb2.HealthCheckResponse.NOT_SERVING


def test_an_address_it_cannot_bind_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"the Test server cannot listen on 192\.0\.2\.1:"):
        GrpcServer.start("Test server", SERVICE, lambda _: None, free_port(), host="192.0.2.1")
