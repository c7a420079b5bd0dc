"""Fixtures of the stage tests: a real gRPC engine answering on the test run's engine port
(a module that needs another backend defines its own ``engine``)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from engines import CountingBackend
from testenv import ENGINE_PORT

from services.mcp_engine.server import serve


@pytest.fixture
def engine() -> Iterator[CountingBackend]:
    backend = CountingBackend()
    server: grpc.Server = serve(ENGINE_PORT, backend)
    yield backend
    server.stop(1).wait()
