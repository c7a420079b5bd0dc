"""The web widget's socket, ``GET /v1/ws`` (docs/widget-protocol.md, "The socket").

A socket authenticates with its first frame (the token stays out of URLs and access logs),
then carries the visitor's stream out — replayed after the browser's ``last_event_id``, then
live, read with blocking XREADs, so a reply published by any process reaches whichever ingress
holds the socket — and the browser's frames in: messages through the same accept path as every
channel, delivery ticks through the same status moves as providers' callbacks.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import anyio
from pydantic import ValidationError
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from core.envelopes import ChannelConfig, DeliveryState, StatusUpdate
from core.errors import Conflict, NotFound, TransientError
from core.visitor_events import message_event, status_event
from core.visitor_tokens import Visitor
from ingress import rate_limit
from ingress.accept import WEB_CHANNEL, accept_web
from ingress.client_address import client_address, client_metadata
from ingress.problems import Problem
from ingress.schemas import WebMessageIn
from ingress.state import IngressState
from ingress.visitor_auth import authenticate_visitor
from ingress.webhooks import apply_status
from storage.documents import MessageDocument
from tasks.policy import INFRASTRUCTURE_ERRORS

log = logging.getLogger("parley.ingress.ws")

UNAUTHORIZED, FORBIDDEN, HELLO_TIMEOUT, RATE_LIMITED = 4401, 4403, 4408, 4429
TRY_AGAIN_LATER = 1013  # RFC 6455: the stream cannot be read now
CLOSE_FOR_STATUS = {401: UNAUTHORIZED, 403: FORBIDDEN, 429: RATE_LIMITED}
TICKS = {"delivered": DeliveryState.DELIVERED, "read": DeliveryState.READ}
UNAVAILABLE: tuple[type[Exception], ...] = (
    TransientError,
    Conflict,
    RedisError,
    *INFRASTRUCTURE_ERRORS,
)


class _Close(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _frame(message: Mapping[str, Any]) -> dict[str, Any] | None:
    """A browser frame as a JSON object; None for anything else."""
    raw = message.get("text") if message.get("text") is not None else message.get("bytes")
    try:
        frame = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return frame if isinstance(frame, dict) else None


async def _receive(websocket: WebSocket) -> dict[str, Any] | None:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    return _frame(message)


async def _hello(websocket: WebSocket, state: IngressState) -> tuple[Visitor, str | None]:
    """The visitor the first frame's token names, and where it wants to resume; failed
    hellos are counted per address like failed API authentications."""
    settings = state.settings
    source = client_address(websocket)
    failures = rate_limit.address_failures(state.limiter, settings, source)
    try:
        with anyio.fail_after(settings.ws_hello_timeout_seconds):
            frame = await _receive(websocket)
    except TimeoutError:
        raise _Close(HELLO_TIMEOUT, "no hello in time") from None
    [look] = await run_in_threadpool(state.limiter.peek, [failures])
    if not look.allowed:
        raise _Close(RATE_LIMITED, "too many failed hellos")
    token = frame.get("token") if frame and frame.get("type") == "hello" else None
    after = frame.get("last_event_id") if frame else None
    try:
        if not isinstance(token, str) or not token:
            raise Problem(401, "unauthorized", "Unauthorized", "the first frame must be a hello")
        origin = websocket.headers.get("origin", "")
        visitor, _ = await run_in_threadpool(authenticate_visitor, state, token, origin)
    except Problem as problem:
        await run_in_threadpool(state.limiter.take_each, [failures])
        raise _Close(CLOSE_FOR_STATUS.get(problem.status, UNAUTHORIZED), problem.slug) from None
    return visitor, after if isinstance(after, str) else None


def _still_allowed(state: IngressState, visitor: Visitor) -> None:
    """Close a socket whose token expired or whose widget was disabled since its hello."""
    if visitor.expires_at + state.settings.jwt_leeway_seconds < time.time():
        raise _Close(UNAUTHORIZED, "the visitor token has expired")
    widget = state.widgets.find(visitor.widget_id)
    if widget is None or widget.get("tenant_id") != visitor.tenant_id:
        raise _Close(UNAUTHORIZED, "the widget is gone")
    if not widget.get("enabled"):
        raise _Close(FORBIDDEN, "widget-disabled")


class VisitorSocket:
    """One authenticated socket: the stream out, the browser's frames in."""

    def __init__(self, websocket: WebSocket, state: IngressState, visitor: Visitor) -> None:
        self.websocket = websocket
        self.state = state
        self.visitor = visitor
        self._sending = anyio.Lock()  # the stream and the answers share one socket
        self.client = client_metadata(websocket)  # what each of its messages records
        self.closing: _Close | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._sending:
            await self.websocket.send_json(frame)

    async def run(self, after: str | None) -> None:
        v = self.visitor
        reader = self.state.visitor_reader
        start, resync = await reader.resume_point(v.tenant_id, v.widget_id, v.visitor_id, after)
        await self.send({"type": "welcome", "visitor_id": v.visitor_id, "last_event_id": start})
        if resync:
            await self.send({"type": "resync"})
        async with anyio.create_task_group() as group:

            async def guarded(step: Any, *args: Any) -> None:
                try:
                    await step(*args)
                except _Close as close:
                    self.closing = close
                except (WebSocketDisconnect, OSError):
                    pass  # the browser went away
                except RedisError as exc:
                    log.warning("visitor stream unreadable: %s", type(exc).__name__)
                    self.closing = _Close(TRY_AGAIN_LATER, "the stream cannot be read now")
                group.cancel_scope.cancel()  # one side ending ends the socket

            group.start_soon(guarded, self._stream_out, start)
            group.start_soon(guarded, self._recheck)
            group.start_soon(guarded, self._frames_in)

    async def _stream_out(self, after: str) -> None:
        v = self.visitor
        while True:
            events = await self.state.visitor_reader.read(
                v.tenant_id, v.widget_id, v.visitor_id, after
            )
            for event in events:
                await self.send(event)
                after = event["event_id"]

    async def _recheck(self) -> None:
        while True:
            await anyio.sleep(self.state.settings.ws_recheck_seconds)
            await run_in_threadpool(_still_allowed, self.state, self.visitor)

    async def _frames_in(self) -> None:
        while True:
            frame = await _receive(self.websocket)
            kind = frame.get("type") if frame else None
            if frame is not None and kind == "message":
                await self.send(await self._message(frame))
            elif frame is not None and kind in TICKS:
                message_id = frame.get("message_id")
                if isinstance(message_id, str) and 0 < len(message_id) <= 128:
                    await run_in_threadpool(
                        _tick, self.state, self.visitor, message_id, TICKS[str(kind)]
                    )
            elif kind == "ping":
                await self.send({"type": "pong"})
            else:
                await self.send(_error(None, "invalid", "not a frame this socket knows"))

    async def _message(self, frame: dict[str, Any]) -> dict[str, Any]:
        """The answer to one message frame: ``ack`` or ``error``."""
        raw_id = frame.get("client_message_id")
        client_id = raw_id if isinstance(raw_id, str) and len(raw_id) <= 64 else None
        state, visitor = self.state, self.visitor
        await run_in_threadpool(_still_allowed, state, visitor)
        try:
            payload = WebMessageIn.model_validate(frame)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            detail = f"{where}: {first['msg']}" if where else str(first["msg"])
            return _error(client_id, "invalid", detail)
        bucket = rate_limit.visitor_messages(state.limiter, state.settings, visitor)
        try:
            verdict = await run_in_threadpool(state.limiter.take, [bucket])
            if not verdict.allowed:
                return _error(client_id, "rate-limited", "too many messages; wait a moment")
            stored, created = await run_in_threadpool(
                accept_web, state, visitor, payload, self.client
            )
        except NotFound as exc:
            return _error(client_id, "invalid", str(exc))
        except UNAVAILABLE as exc:
            log.warning("web message not accepted: %s", type(exc).__name__)
            return _error(client_id, "unavailable", "the message could not be stored; retry")
        if created:
            await run_in_threadpool(_echo, state, visitor, stored)
        return {
            "type": "ack",
            "client_message_id": payload.client_message_id,
            "message_id": stored["_id"],
            "conversation_id": stored["conversation_id"],
            "duplicate": not created,
        }


def _error(client_message_id: str | None, code: str, detail: str) -> dict[str, Any]:
    return {
        "type": "error",
        "client_message_id": client_message_id,
        "code": code,
        "detail": detail,
    }


def _echo(state: IngressState, visitor: Visitor, stored: MessageDocument) -> None:
    """The visitor's message and its first tick, for its other tabs; a stored message stands
    even when its echo cannot be published (the history shows it)."""
    try:
        for event in (message_event(stored), status_event(stored["_id"], "received")):
            state.visitor_streams.publish(
                visitor.tenant_id, visitor.widget_id, visitor.visitor_id, event
            )
    except RedisError as exc:
        log.warning("echo of %s not published: %s", stored["_id"], type(exc).__name__)


def _tick(state: IngressState, visitor: Visitor, message_id: str, tick: DeliveryState) -> None:
    """The browser's ``delivered`` / ``read`` for a bot message: applied as a provider's status
    callback would be, only to a reply to this visitor in a conversation on its widget."""
    reply = state.messages.find(visitor.tenant_id, message_id)
    if (
        reply is None
        or reply["direction"] != "outbound"
        or reply["channel"] != WEB_CHANNEL
        or reply["user_id"] != visitor.visitor_id
    ):
        return
    try:
        conversation = state.conversations.get(visitor.tenant_id, reply["conversation_id"])
    except NotFound:
        return
    if conversation.get("channel_config_id") != visitor.widget_id:  # the widget is its scope
        return
    # The web channel has no provider account: its replies are noted under the empty config
    # id the deliver stage reads them with, and its "provider id" is the reply's own id.
    account = ChannelConfig(id="", tenant_id=visitor.tenant_id, channel=WEB_CHANNEL, account_id="")
    update = StatusUpdate(
        account_id="", state=tick, provider_message_id=message_id, user_id=visitor.visitor_id
    )
    apply_status(state, account, update)


async def visitor_socket(websocket: WebSocket) -> None:
    state: IngressState = websocket.state.parley
    await websocket.accept()
    try:
        visitor, after = await _hello(websocket, state)
        socket = VisitorSocket(websocket, state, visitor)
        await socket.run(after)
        closing = socket.closing
    except WebSocketDisconnect:
        return
    except _Close as close:
        closing = close
    except RedisError as exc:
        log.warning("visitor stream unreadable: %s", type(exc).__name__)
        closing = _Close(TRY_AGAIN_LATER, "the stream cannot be read now")
    if closing is not None:
        await websocket.close(closing.code, closing.reason)
    elif websocket.client_state.name == "CONNECTED":
        await websocket.close()


routes = [WebSocketRoute("/v1/ws", visitor_socket)]
