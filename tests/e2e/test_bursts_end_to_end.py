"""Messages a user sends together are answered as one turn (docs/bursts.md): a real ingress,
``celery worker`` processes and a gRPC engine that keeps every request it is asked."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from engines import RecordingBackend
from processes import running_platform
from testenv import ENGINE_PORT, free_port

from core.settings import Settings
from protos import mcp_engine_pb2 as pb
from services.mcp_engine.server import serve
from tests.credentials import admin_headers, tenant_headers

pytestmark = pytest.mark.e2e

# Long enough that ten posts made one after another all fall inside it on a loaded machine.
WINDOW_MS = 4000


class HeldBackend(RecordingBackend):
    """Answers like the rules backend; the first request of a user in ``hold`` waits until the
    test lets it go, so later messages arrive while that turn is being worked."""

    def __init__(self) -> None:
        super().__init__()
        self.hold: set[str] = set()
        self.holding = threading.Event()
        self.release = threading.Event()

    def generate(self, request: pb.GenerateRequest) -> pb.GenerateResponse:
        if request.user_id in self.hold:
            self.hold.discard(request.user_id)
            self.holding.set()
            self.release.wait(30)
        return super().generate(request)


@pytest.fixture(scope="module")
def backend() -> Iterator[HeldBackend]:
    recording = HeldBackend()
    server: grpc.Server = serve(ENGINE_PORT, recording)
    yield recording
    recording.release.set()
    server.stop(1).wait()


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, backend: HeldBackend, db: Any, broker: Any
) -> Iterator[str]:
    logs: Path = tmp_path_factory.mktemp("bursts-logs")
    env = {"PARLEY_BURST_WINDOW_MS": str(WINDOW_MS)}
    with running_platform(logs, ENGINE_PORT, free_port(), env, engine=False) as (base, _):
        yield base


def _tenant(base: str, settings: Settings, bursts: dict[str, int] | None) -> dict[str, str]:
    tenant = f"burst-{secrets.token_hex(4)}"
    body: dict[str, Any] = {"id": tenant, "name": "Bursts"}
    if bursts is not None:
        body["bursts"] = bursts
    created = httpx.post(f"{base}/v1/admin/tenants", json=body, headers=admin_headers(settings))
    assert created.status_code == 201, created.text
    return tenant_headers(settings, tenant)


def _post(base: str, headers: dict[str, str], user: str, text: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{base}/v1/messages", json={"user_id": user, "text": text}, headers=headers
    )
    assert answer.status_code == 202, answer.text
    accepted: dict[str, Any] = answer.json()
    return accepted


def _messages(base: str, headers: dict[str, str], conversation_id: str) -> list[dict[str, Any]]:
    page = httpx.get(f"{base}/v1/conversations/{conversation_id}/messages", headers=headers)
    assert page.status_code == 200, page.text
    data: list[dict[str, Any]] = page.json()["data"]
    return data


def _wait_completed(
    base: str, headers: dict[str, str], conversation_id: str, inbound: int
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 90
    messages: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        messages = _messages(base, headers, conversation_id)
        done = [m for m in messages if m["direction"] == "inbound" and m["status"] == "completed"]
        if len(done) == inbound:
            return messages
        time.sleep(0.2)
    raise AssertionError(f"the turns did not complete: {[m['status'] for m in messages]}")


def _requests_of(backend: HeldBackend, conversation_id: str) -> list[pb.GenerateRequest]:
    return [r for r in backend.requests if r.conversation_id == conversation_id]


def test_ten_messages_within_the_window_get_one_reply_that_answers_all_ten(
    platform: str, backend: HeldBackend, settings: Settings
) -> None:
    headers = _tenant(platform, settings, None)  # the platform's window (WINDOW_MS)
    texts = [f"part {n} of what I meant to say" for n in range(10)]
    accepted = [_post(platform, headers, "u-burst", text) for text in texts]
    conversation_id = accepted[0]["conversation_id"]
    assert {a["conversation_id"] for a in accepted} == {conversation_id}
    ids = [a["message_id"] for a in accepted]

    messages = _wait_completed(platform, headers, conversation_id, 10)

    requests = _requests_of(backend, conversation_id)
    assert len(requests) == 1, [list(r.burst) for r in requests]
    (request,) = requests
    assert request.message_id == ids[0]
    assert [m.message_id for m in request.burst] == ids
    assert [m.text for m in request.burst] == texts
    assert request.text == "\n".join(texts)
    replies = [m for m in messages if m["direction"] == "outbound"]
    assert len(replies) == 1, replies
    (reply,) = replies
    assert reply["answers"] == ids
    assert reply["in_reply_to"] == ids[0]
    inbound = [m for m in messages if m["direction"] == "inbound"]
    assert [m["message_id"] for m in inbound] == ids
    assert {m["reply_id"] for m in inbound} == {reply["message_id"]}
    one = httpx.get(f"{platform}/v1/messages/{ids[7]}", headers=headers).json()
    assert one["reply_id"] == reply["message_id"]


def test_messages_sent_while_a_turn_is_worked_are_answered_together_by_the_next(
    platform: str, backend: HeldBackend, settings: Settings
) -> None:
    # No window: the first message is answered alone; the three sent while the engine works on
    # it wait behind it, and the next turn takes all three.
    headers = _tenant(platform, settings, {"window_ms": 0})
    backend.release.clear()
    backend.holding.clear()
    backend.hold.add("u-busy")
    first = _post(platform, headers, "u-busy", "hello")
    conversation_id = first["conversation_id"]
    assert backend.holding.wait(60), "the first turn never reached the engine"
    later = [_post(platform, headers, "u-busy", f"and {n}") for n in range(3)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # all three processed, waiting behind the first
        statuses = [m["status"] for m in _messages(platform, headers, conversation_id)[1:]]
        if statuses == ["processed"] * 3:
            break
        time.sleep(0.1)
    backend.release.set()

    messages = _wait_completed(platform, headers, conversation_id, 4)

    ids = [first["message_id"], *(m["message_id"] for m in later)]
    requests = _requests_of(backend, conversation_id)
    assert [[m.message_id for m in r.burst] for r in requests] == [[], ids[1:]]
    replies = [m for m in messages if m["direction"] == "outbound"]
    assert [r["answers"] for r in replies] == [ids[:1], ids[1:]]
    by_id = {m["message_id"]: m for m in messages}
    assert [by_id[i]["reply_id"] for i in ids] == [replies[0]["message_id"]] + [
        replies[1]["message_id"]
    ] * 3


def test_a_tenant_with_bursts_off_gets_a_reply_per_message(
    platform: str, backend: HeldBackend, settings: Settings
) -> None:
    headers = _tenant(platform, settings, {"max_messages": 1})
    accepted = [_post(platform, headers, "u-off", f"message {n}") for n in range(3)]
    conversation_id = accepted[0]["conversation_id"]

    messages = _wait_completed(platform, headers, conversation_id, 3)

    ids = [a["message_id"] for a in accepted]
    requests = _requests_of(backend, conversation_id)
    assert [r.message_id for r in requests] == ids
    assert all(not r.burst for r in requests)
    replies = [m for m in messages if m["direction"] == "outbound"]
    assert [r["answers"] for r in replies] == [[i] for i in ids]


def test_burst_settings_out_of_range_are_refused(platform: str, settings: Settings) -> None:
    for bursts in ({"window_ms": -1}, {"window_ms": 10_001}, {"max_messages": 0}, {"x": 1}):
        answer = httpx.post(
            f"{platform}/v1/admin/tenants",
            json={"id": f"burst-{secrets.token_hex(4)}", "name": "B", "bursts": bursts},
            headers=admin_headers(settings),
        )
        assert answer.status_code == 422, (bursts, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
