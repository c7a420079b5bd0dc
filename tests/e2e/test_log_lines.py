"""Issue 15's log acceptance on real processes: every line every process wrote is a JSON object,
and one request id (the caller's ``X-Request-ID``) links the message's lines across the ingress,
the four chain workers and the engine."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import CHAIN_QUEUES, running_platform
from testenv import ENGINE_PORT, free_port

from core.settings import Settings
from tests.credentials import tenant_headers

pytestmark = pytest.mark.e2e


def _lines(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"{path.name}: not a JSON line: {line!r}") from None
    return parsed


def test_every_line_is_json_and_one_request_id_follows_the_message(
    tmp_path: Path, settings: Settings, tenant: str, db: Any, broker: Any
) -> None:
    request_id = f"req-{uuid.uuid4().hex}"
    headers = {**tenant_headers(settings, tenant), "X-Request-ID": request_id}
    with running_platform(tmp_path, ENGINE_PORT, free_port()) as (base, group):
        posted = httpx.post(
            f"{base}/v1/messages", headers=headers, json={"user_id": "ann", "text": "hello"}
        )
        assert posted.status_code == 202, posted.text
        assert posted.headers["x-request-id"] == request_id
        message_id = posted.json()["message_id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = httpx.get(f"{base}/v1/messages/{message_id}", headers=headers).json()
            if status["status"] == "completed":
                break
            time.sleep(0.2)
        assert status["status"] == "completed", status
        time.sleep(1.0)  # the last stage's line reaches its file
        names = list(group.children)
    logs = {name: _lines(group.log_file(name)) for name in names}
    ours = {
        name: [e for e in lines if e.get("request_id") == request_id]
        for name, lines in logs.items()
    }
    for name in ("ingress", "engine", *(f"worker-{queue}" for queue in CHAIN_QUEUES)):
        assert ours[name], f"{name} logged nothing with the request id"
    for queue in CHAIN_QUEUES:
        [stage_line] = [e for e in ours[f"worker-{queue}"] if e["message"] == f"stage {queue} ran"]
        assert stage_line["message_id"] == message_id and stage_line["tenant_id"] == tenant
    assert any(e["name"] == "uvicorn.access" for e in ours["ingress"])


def test_a_bad_request_id_is_replaced_not_echoed(settings: Settings) -> None:
    from core import log_context

    assert log_context.accepted_request_id("ok-id_1.2:3") == "ok-id_1.2:3"
    replaced = log_context.accepted_request_id("bad id\n{injected}")
    assert replaced.startswith("req_") and "injected" not in replaced
