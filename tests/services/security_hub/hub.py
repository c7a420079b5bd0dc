"""An in-process Security Hub a test can stop and restart, and a clock the test moves by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from pymongo.database import Database
from testenv import free_port

from core.settings import Settings
from protos.security_hub_client import SecurityHubClient
from services.security_hub import serve

ConnectClient = Callable[..., SecurityHubClient]


class Hub:
    """An in-process hub on a fixed port that a test can stop and start again."""

    def __init__(self, db: Database[Any], settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self._server: grpc.Server | None = None

    def start(self) -> None:
        assert self._server is None, "the hub is already running"
        self._server = serve(self.port, self._db, self._settings)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
