"""Every request gets a request id: the caller's ``X-Request-ID`` when it is a sane one, else a
new one; it is bound for the request's log lines, answered in the same header, and carried to
the turn's tasks (tasks/log_context.py) and on to the engine and the provider."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import log_context


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None
        )
        request_id = log_context.accepted_request_id(given)

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        with log_context.bound(request_id=request_id):
            await self.app(scope, receive, answer)
