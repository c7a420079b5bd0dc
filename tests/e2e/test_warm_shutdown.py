"""A worker told to stop (SIGTERM, as Kubernetes and compose stop a container) in the middle of a
task finishes that task before it exits, and the turn completes once, on the worker started in
its place."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from engines import CountingBackend
from processes import running_platform
from testenv import ENGINE_PORT, free_port

from core.settings import Settings
from protos import mcp_engine_pb2 as pb
from services.mcp_engine.server import serve
from tests.credentials import tenant_headers

pytestmark = pytest.mark.e2e


class HeldBackend(CountingBackend):
    """Answers only once the test lets it: the generate task is mid-call until then."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = threading.Event()
        self.release = threading.Event()

    def generate(self, request: pb.GenerateRequest) -> pb.GenerateResponse:
        self.asked.set()
        self.release.wait(30)
        return super().generate(request)


def test_a_worker_stopped_mid_task_finishes_it_and_the_turn_completes_once(
    tmp_path: Path, settings: Settings, tenant: str, db: Any, broker: Any
) -> None:
    backend = HeldBackend()
    server = serve(ENGINE_PORT, backend)
    headers = tenant_headers(settings, tenant)
    try:
        with running_platform(tmp_path, ENGINE_PORT, free_port(), engine=False) as (base, group):
            posted = httpx.post(
                f"{base}/v1/messages", headers=headers, json={"user_id": "uma", "text": "hello"}
            )
            assert posted.status_code == 202, posted.text
            message_id = posted.json()["message_id"]
            assert backend.asked.wait(30), "the generate task never called the engine"

            worker = group.children.pop("worker-generate")
            os.kill(worker.pid, signal.SIGTERM)  # the main process only, as a container stop
            time.sleep(1.0)
            assert worker.poll() is None, "the worker left before its task was done"
            backend.release.set()
            assert worker.wait(timeout=30) == 0  # a warm shutdown, after the task
            group.start("worker-generate", "worker", "generate", "--concurrency", "1")

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                status = httpx.get(f"{base}/v1/messages/{message_id}", headers=headers).json()
                if status["status"] == "completed":
                    break
                time.sleep(0.2)
            assert status["status"] == "completed", status
    finally:
        backend.release.set()
        server.stop(1).wait()
    assert len(backend.calls) == 1  # answered once: the task was not run again
    replies = db["messages"].count_documents(
        {"tenant_id": tenant, "direction": "outbound", "in_reply_to": message_id}
    )
    assert replies == 1
