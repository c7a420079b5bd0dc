"""The widget's socket ``GET /v1/ws`` on the real services: the hello and its refusals, message
frames accepted once through the shared accept path, the visitor's stream replayed after
``last_event_id`` (or a resync) and then live, the browser's delivery ticks, and the closes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient, WebSocketTestSession

from core.settings import Settings
from core.timeutil import utcnow
from ingress.app import create_app
from storage.visitor_streams import VisitorStreams, stream_key
from tests.credentials import client_address, tenant_headers
from tests.visitor_sockets import (
    ORIGIN,
    Closed,
    connect,
    hello,
    make_widget,
    message_frame,
    receive,
    token,
    until,
)


def _app(settings: Settings | None = None) -> Iterator[TestClient]:
    # An address of its own: failed hellos are counted per address.
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as client:
        yield client


@pytest.fixture(scope="module")
def client(
    db: Database[Any], broker: redis.Redis, redis_client: redis.Redis
) -> Iterator[TestClient]:
    yield from _app()


@pytest.fixture
def widget(db: Database[Any], tenant: str) -> str:
    return make_widget(db, tenant)


@pytest.fixture
def visitor() -> str:
    return "v_" + secrets.token_hex(6)


@dataclass(frozen=True)
class Visit:
    """One visitor of one widget: its sockets and its stream."""

    client: TestClient
    settings: Settings
    streams: VisitorStreams
    tenant: str
    widget: str
    visitor: str

    @contextmanager
    def socket(
        self,
        last_event_id: str | None = None,
        widget: str | None = None,
        visitor: str | None = None,
    ) -> Iterator[tuple[WebSocketTestSession, dict[str, Any]]]:
        """A socket, said hello on (as this visitor unless another is named), and its welcome."""
        bearer = token(self.settings, self.tenant, widget or self.widget, visitor or self.visitor)
        with connect(self.client) as socket:
            yield socket, hello(socket, bearer, last_event_id)

    def publish(self, event: dict[str, Any]) -> str:
        return self.streams.publish(self.tenant, self.widget, self.visitor, event)


@pytest.fixture
def visit(
    client: TestClient,
    settings: Settings,
    redis_client: redis.Redis,
    tenant: str,
    widget: str,
    visitor: str,
) -> Visit:
    return Visit(client, settings, VisitorStreams(redis_client), tenant, widget, visitor)


@pytest.fixture
def ws(visit: Visit) -> Iterator[WebSocketTestSession]:
    """A socket of the visitor, welcomed."""
    with visit.socket() as (socket, _):
        yield socket


def test_a_hello_is_welcomed_and_a_ping_answered(
    client: TestClient, settings: Settings, tenant: str, widget: str, visitor: str
) -> None:
    with connect(client) as ws:
        welcome = hello(ws, token(settings, tenant, widget, visitor))
        assert welcome == {"type": "welcome", "visitor_id": visitor, "last_event_id": "0-0"}
        ws.send_json({"type": "ping"})
        assert receive(ws) == {"type": "pong"}


@pytest.mark.parametrize("kind", ["garbage", "another-tenant", "expired", "not-a-hello"])
def test_a_bad_token_is_closed_4401(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    tenant: str,
    widget: str,
    visitor: str,
    kind: str,
) -> None:
    bearer = {
        "garbage": "not.a.token",
        "another-tenant": token(settings, "t_other", widget, visitor),
        "expired": token(settings, tenant, widget, visitor, ttl=-3600),
        "not-a-hello": "",
    }[kind]
    with connect(client) as ws:
        if kind == "not-a-hello":
            ws.send_json({"type": "ping"})
            with pytest.raises(Closed) as closed:
                receive(ws)
        else:
            with pytest.raises(Closed) as closed:
                hello(ws, bearer)
    assert closed.value.code == 4401


def test_an_origin_the_widget_does_not_allow_is_closed_4403(
    client: TestClient, settings: Settings, tenant: str, widget: str, visitor: str
) -> None:
    with connect(client, origin="https://evil.example") as ws, pytest.raises(Closed) as closed:
        hello(ws, token(settings, tenant, widget, visitor))
    assert closed.value.code == 4403


def test_no_hello_in_time_is_closed_4408(
    settings: Settings, db: Database[Any], broker: redis.Redis
) -> None:
    for quick in _app(settings.model_copy(update={"ws_hello_timeout_seconds": 0.3})):
        with connect(quick) as ws, pytest.raises(Closed) as closed:
            receive(ws)
        assert closed.value.code == 4408


def test_failed_hellos_from_one_address_past_its_allowance_are_closed_4429(
    settings: Settings, db: Database[Any], broker: redis.Redis, tenant: str, widget: str
) -> None:
    for strict in _app(settings.model_copy(update={"auth_failure_burst": 2})):
        codes = []
        for bearer in ("bad.1", "bad.2", token(settings, tenant, widget, "v_late")):
            with connect(strict) as ws, pytest.raises(Closed) as closed:
                hello(ws, bearer)
            codes.append(closed.value.code)
        assert codes == [4401, 4401, 4429]


def test_a_message_frame_is_stored_once_even_when_sent_twice(
    ws: WebSocketTestSession, visit: Visit, db: Database[Any]
) -> None:
    tenant, widget, visitor = visit.tenant, visit.widget, visit.visitor
    ws.send_json(message_frame("c_1", "Where is my order?"))
    first = until(ws, lambda f: f["type"] == "ack")
    ws.send_json(message_frame("c_1", "Where is my order?"))
    again = until(ws, lambda f: f["type"] == "ack")
    ws.send_json({"type": "ping"})
    rest = until(ws, lambda f: f["type"] == "pong")
    ack, duplicate = first[-1], again[-1]
    assert ack["duplicate"] is False and duplicate["duplicate"] is True
    assert duplicate["message_id"] == ack["message_id"]
    assert duplicate["conversation_id"] == ack["conversation_id"]
    stored = list(db["messages"].find({"tenant_id": tenant}))
    assert len(stored) == 1
    doc = stored[0]
    assert doc["_id"] == ack["message_id"]
    assert doc["channel"] == "web" and doc["user_id"] == visitor
    assert doc["reply_to"] == {"widget_id": widget}
    assert doc["dedupe_key"] == f"web:{widget}:{visitor}:c_1"
    assert doc["client_message_id"] == "c_1"
    assert "channel_config_id" not in doc
    conversation = db["conversations"].find_one({"_id": doc["conversation_id"]})
    assert conversation is not None and conversation["channel_config_id"] == widget
    # Its echo for the visitor's other tabs, published once: the message, then its tick.
    events = [f for f in first + again + rest if f["type"] in ("message", "status")]
    assert [e["type"] for e in events] == ["message", "status"]
    assert events[0]["message"]["id"] == doc["_id"]
    assert events[0]["message"]["client_message_id"] == "c_1"
    assert events[0]["message"]["direction"] == "inbound"
    assert events[1]["message_id"] == doc["_id"] and events[1]["status"] == "received"


@pytest.mark.parametrize(
    "frame",
    [
        message_frame("bad id!"),
        message_frame("", "hi"),
        message_frame("c_" + "x" * 63),
        message_frame("c_2", "   "),
        message_frame("c_3", "x" * 4097),
        message_frame("c_4", "see", attachments=[{"upload_id": "upl_nobodys"}]),
        message_frame("c_5", "hi", extra="field"),
    ],
)
def test_an_invalid_message_frame_is_answered_invalid_and_stores_nothing(
    ws: WebSocketTestSession,
    db: Database[Any],
    tenant: str,
    frame: dict[str, Any],
) -> None:
    ws.send_json(frame)
    error = receive(ws)
    assert error["type"] == "error" and error["code"] == "invalid", error
    assert db["messages"].count_documents({"tenant_id": tenant}) == 0


def test_message_frames_past_the_visitor_limit_are_refused(
    settings: Settings, db: Database[Any], broker: redis.Redis, tenant: str, visitor: str
) -> None:
    widget = make_widget(db, tenant)
    limited = settings.model_copy(
        update={"visitor_message_burst": 2, "visitor_message_per_second": 0.001}
    )
    for quick in _app(limited):
        with connect(quick) as ws:
            hello(ws, token(settings, tenant, widget, visitor))
            answers = []
            for n in range(3):
                ws.send_json(message_frame(f"c_{n}"))
                answers.append(until(ws, lambda f: f["type"] in ("ack", "error"))[-1])
    assert [a["type"] for a in answers] == ["ack", "ack", "error"]
    assert answers[2]["code"] == "rate-limited" and answers[2]["client_message_id"] == "c_2"
    assert db["messages"].count_documents({"tenant_id": tenant}) == 2


def test_a_resumed_socket_gets_only_later_events_and_none_twice(visit: Visit) -> None:
    ids = [visit.publish({"type": "typing", "n": n}) for n in range(3)]
    with visit.socket(last_event_id=ids[0]) as (ws, welcome):
        assert welcome["last_event_id"] == ids[0]
        replayed = [receive(ws), receive(ws)]
        live = visit.publish({"type": "typing", "n": 3})
        later = receive(ws)
        ws.send_json({"type": "ping"})
        assert receive(ws) == {"type": "pong"}  # nothing else came in between
    assert [e["event_id"] for e in replayed] == ids[1:]
    assert [e["n"] for e in replayed] == [1, 2]
    assert later["event_id"] == live and later["n"] == 3


def test_a_socket_resuming_after_a_trimmed_event_is_told_to_resync(
    visit: Visit, redis_client: redis.Redis
) -> None:
    gone = visit.publish({"type": "typing", "n": 0})
    kept = visit.publish({"type": "typing", "n": 1})
    redis_client.xdel(stream_key(visit.tenant, visit.widget, visit.visitor), gone)  # a trim
    with visit.socket(last_event_id=gone) as (ws, welcome):
        assert welcome["last_event_id"] == kept
        assert receive(ws) == {"type": "resync"}
        live = visit.publish({"type": "typing", "n": 2})
        assert receive(ws)["event_id"] == live


def _reply(db: Database[Any], inbound_id: str, status: str = "sent") -> str:
    """A bot reply to a stored web message, as the deliver stage leaves it once published."""
    inbound = db["messages"].find_one({"_id": inbound_id})
    assert inbound is not None
    rid = f"{inbound_id}.r"
    now = utcnow()
    db["messages"].insert_one(
        {
            "_id": rid,
            "tenant_id": inbound["tenant_id"],
            "conversation_id": inbound["conversation_id"],
            "channel": "web",
            "direction": "outbound",
            "user_id": inbound["user_id"],
            "text": "On its way.",
            "status": status,
            "journey": {status: now},
            "created_at": now,
            "updated_at": now,
            "dedupe_key": f"reply:{rid}",
            "provider_message_ids": [rid],
        }
    )
    return rid


def _send_message(ws: WebSocketTestSession, client_message_id: str) -> str:
    ws.send_json(message_frame(client_message_id))
    message_id: str = until(ws, lambda f: f["type"] == "ack")[-1]["message_id"]
    return message_id


def _tick(ws: WebSocketTestSession, kind: str, message_id: str) -> None:
    ws.send_json({"type": kind, "message_id": message_id})
    ws.send_json({"type": "ping"})
    until(ws, lambda f: f["type"] == "pong")  # frames are handled in order: the tick is done


def test_delivered_and_read_move_the_reply_forward_and_never_back(
    ws: WebSocketTestSession,
    db: Database[Any],
) -> None:
    rid = _reply(db, _send_message(ws, "c_1"))
    _tick(ws, "delivered", rid)
    after_delivered = db["messages"].find_one({"_id": rid})
    _tick(ws, "read", rid)
    _tick(ws, "delivered", rid)
    assert after_delivered is not None and after_delivered["status"] == "delivered"
    reply = db["messages"].find_one({"_id": rid})
    assert reply is not None and reply["status"] == "read"
    assert set(reply["journey"]) == {"sent", "delivered", "read"}


def test_a_visitor_cannot_tick_another_visitors_reply(
    ws: WebSocketTestSession, visit: Visit, db: Database[Any]
) -> None:
    other_widget = make_widget(db, visit.tenant)
    with visit.socket(visitor="v_other") as (theirs_ws, _):
        theirs = _reply(db, _send_message(theirs_ws, "c_1"))
    with visit.socket(widget=other_widget, visitor="v_other") as (elsewhere, _):
        # The same visitor id on another widget of the tenant is someone else's conversation.
        _tick(elsewhere, "read", theirs)
    _tick(ws, "read", theirs)
    _tick(ws, "delivered", "msg_nonexistent")
    reply = db["messages"].find_one({"_id": theirs})
    assert reply is not None and reply["status"] == "sent"


def test_a_disabled_widget_closes_the_socket_4403(
    ws: WebSocketTestSession,
    db: Database[Any],
    tenant: str,
    widget: str,
) -> None:
    db["widgets"].update_one({"_id": widget}, {"$set": {"enabled": False}})
    ws.send_json(message_frame("c_1"))
    with pytest.raises(Closed) as closed:
        until(ws, lambda f: False)
    assert closed.value.code == 4403
    assert db["messages"].count_documents({"tenant_id": tenant}) == 0


def test_the_recheck_closes_a_socket_whose_widget_was_disabled(
    settings: Settings, db: Database[Any], broker: redis.Redis, tenant: str, visitor: str
) -> None:
    widget = make_widget(db, tenant)
    for quick in _app(settings.model_copy(update={"ws_recheck_seconds": 0.2})):
        with connect(quick) as ws:
            hello(ws, token(settings, tenant, widget, visitor))
            db["widgets"].update_one({"_id": widget}, {"$set": {"enabled": False}})
            with pytest.raises(Closed) as closed:
                until(ws, lambda f: False)
        assert closed.value.code == 4403


def test_closing_a_web_conversation_tells_the_visitors_socket(
    ws: WebSocketTestSession,
    client: TestClient,
    settings: Settings,
    tenant: str,
) -> None:
    ws.send_json(message_frame("c_1"))
    conversation_id = until(ws, lambda f: f["type"] == "ack")[-1]["conversation_id"]
    closed = client.post(
        f"/v1/conversations/{conversation_id}/close", headers=tenant_headers(settings, tenant)
    )
    assert closed.status_code == 200, closed.text
    ended = until(ws, lambda f: f["type"] == "conversation_ended")[-1]
    assert ended["conversation_id"] == conversation_id and ended["reason"] == "closed"


def test_a_quick_reply_keeps_its_payload_and_an_upload_only_message_is_an_image(
    ws: WebSocketTestSession, visit: Visit, db: Database[Any]
) -> None:
    tenant, widget, visitor = visit.tenant, visit.widget, visit.visitor
    upload = {"content_type": "image/png", "filename": "receipt.png", "size": 3}
    db["uploads"].insert_many(
        [
            {
                "_id": f"upl_{visitor}",
                "tenant_id": tenant,
                "widget_id": widget,
                "visitor_id": visitor,
                **upload,
            },
            {
                "_id": f"upl_{visitor}_x",
                "tenant_id": tenant,
                "widget_id": widget,
                "visitor_id": "v_someone_else",
                **upload,
            },
        ]
    )
    ws.send_json(message_frame("c_q", "Opening hours", payload="OPENING_HOURS"))
    quick = until(ws, lambda f: f["type"] == "ack")[-1]
    ws.send_json(message_frame("c_u", "", attachments=[{"upload_id": f"upl_{visitor}"}]))
    image = until(ws, lambda f: f["type"] == "ack")[-1]
    ws.send_json(message_frame("c_x", "", attachments=[{"upload_id": f"upl_{visitor}_x"}]))
    theirs = until(ws, lambda f: f["type"] in ("ack", "error"))[-1]
    chosen = db["messages"].find_one({"_id": quick["message_id"]})
    assert chosen is not None and chosen["kind"] == "interactive"
    assert chosen["content"] == {"payload": "OPENING_HOURS", "title": "Opening hours"}
    stored = db["messages"].find_one({"_id": image["message_id"]})
    assert stored is not None and stored["kind"] == "image" and stored["text"] == ""
    assert stored["content"] == {"attachments": [{"upload_id": f"upl_{visitor}", **upload}]}
    assert theirs["type"] == "error" and theirs["code"] == "invalid"
    assert db["messages"].count_documents({"tenant_id": tenant}) == 2


def test_a_web_message_records_the_sockets_user_agent_and_client_address(
    settings: Settings, db: Database[Any], broker: redis.Redis, tenant: str, widget: str
) -> None:
    agent = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"
    app = create_app()
    with TestClient(app, raise_server_exceptions=False, client=("203.0.113.9", 50000)) as client:
        headers = {"origin": ORIGIN, "user-agent": agent}
        with client.websocket_connect("/v1/ws", headers=headers) as ws:
            hello(ws, token(settings, tenant, widget, "v_" + secrets.token_hex(6)))
            ws.send_json(message_frame("c_1", "hello"))
            [ack] = until(ws, lambda f: f["type"] == "ack")[-1:]

    message = db["messages"].find_one({"_id": ack["message_id"]})
    assert message is not None
    assert message["metadata"] == {"user_agent": agent, "client_ip": "203.0.113.9"}
