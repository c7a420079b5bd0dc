"""A widget's socket seen from the browser, for tests: widgets stored as the admin API would,
visitor tokens, the hello, and frames read with a bound on the wait."""

from __future__ import annotations

import json
import secrets
from typing import Any

import anyio
from pymongo.database import Database
from starlette.testclient import TestClient, WebSocketTestSession

from core.settings import Settings
from core.visitor_tokens import mint_visitor_token

ORIGIN = "http://127.0.0.1:8765"


class Closed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


def receive(ws: WebSocketTestSession, timeout: float = 10.0) -> dict[str, Any]:
    """The next frame the server sent; ``Closed`` when it closed the socket instead."""

    async def next_message() -> Any:
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()

    message = ws.portal.call(next_message)
    if message["type"] == "websocket.close":
        raise Closed(message.get("code", 1000))
    frame: dict[str, Any] = json.loads(message["text"])
    return frame


def until(ws: WebSocketTestSession, wanted: Any, limit: int = 20) -> list[dict[str, Any]]:
    """Frames up to and including the first for which ``wanted`` is true."""
    seen: list[dict[str, Any]] = []
    for _ in range(limit):
        seen.append(receive(ws))
        if wanted(seen[-1]):
            return seen
    raise AssertionError(f"no wanted frame in {seen}")


def make_widget(db: Database[Any], tenant: str, **fields: Any) -> str:
    widget_id = "wgt_" + secrets.token_hex(6)
    db["widgets"].insert_one(
        {
            "_id": widget_id,
            "tenant_id": tenant,
            "enabled": True,
            "allowed_origins": [ORIGIN],
            "theme": {},
            "greeting": "",
            "upload": {"max_bytes": 5242880, "types": ["image/png"]},
            **fields,
        }
    )
    return widget_id


def token(settings: Settings, tenant: str, widget: str, visitor: str, ttl: int = 900) -> str:
    minted, _ = mint_visitor_token(settings.require_jwt_secret(), tenant, widget, visitor, ttl)
    return minted


def connect(client: TestClient, origin: str = ORIGIN) -> Any:
    return client.websocket_connect("/v1/ws", headers={"origin": origin})


def hello(
    ws: WebSocketTestSession, bearer: str, last_event_id: str | None = None
) -> dict[str, Any]:
    ws.send_json({"type": "hello", "token": bearer, "last_event_id": last_event_id})
    return receive(ws)


def message_frame(client_message_id: str, text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"type": "message", "client_message_id": client_message_id, "text": text, **extra}
