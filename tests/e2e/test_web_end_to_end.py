"""The web channel through the whole platform: a visitor's socket on one ingress (this test's
process), real workers answering, and another ingress process closing the conversation; each
reaches the socket through the visitor's stream."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import running_platform
from pymongo.database import Database
from starlette.testclient import TestClient
from testenv import ENGINE_PORT, free_port

from core.settings import Settings
from ingress.app import create_app
from tests.credentials import tenant_headers
from tests.visitor_sockets import connect, hello, make_widget, message_frame, token, until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, db: Any, broker: Any) -> Iterator[str]:
    logs: Path = tmp_path_factory.mktemp("web-e2e-logs")
    with running_platform(logs, ENGINE_PORT, free_port()) as (base, _):
        yield base


def _status(db: Database[Any], message_id: str, wanted: str) -> str:
    deadline = time.monotonic() + 30
    status = ""
    while time.monotonic() < deadline:
        doc = db["messages"].find_one({"_id": message_id}, {"status": 1})
        status = doc["status"] if doc else ""
        if status == wanted:
            break
        time.sleep(0.1)
    return status


def test_a_workers_reply_and_another_ingress_close_reach_the_visitors_socket(
    platform: str, settings: Settings, db: Database[Any], tenant: str
) -> None:
    widget = make_widget(db, tenant)
    with TestClient(create_app(), raise_server_exceptions=False) as here, connect(here) as ws:
        hello(ws, token(settings, tenant, widget, "v_e2e"))
        ws.send_json(message_frame("c_1", "What are your opening hours?"))
        ack = until(ws, lambda f: f["type"] == "ack")[-1]
        reply = until(
            ws, lambda f: f["type"] == "message" and f["message"]["direction"] == "outbound"
        )[-1]["message"]
        assert reply["id"] == f"{ack['message_id']}.r"
        assert reply["conversation_id"] == ack["conversation_id"]
        assert reply["parts"] == [
            {"type": "text", "text": "We are open Monday to Friday, 9:00 to 18:00."}
        ]
        assert _status(db, reply["id"], "sent") == "sent"
        ws.send_json({"type": "delivered", "message_id": reply["id"]})
        assert _status(db, reply["id"], "delivered") == "delivered"

        closed = httpx.post(
            f"{platform}/v1/conversations/{ack['conversation_id']}/close",
            headers=tenant_headers(settings, tenant),
        )
        assert closed.status_code == 200, closed.text
        ended = until(ws, lambda f: f["type"] == "conversation_ended")[-1]
    assert ended["conversation_id"] == ack["conversation_id"]
