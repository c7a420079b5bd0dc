"""The request id across gRPC: the client sends the current one as ``x-request-id`` metadata,
and the server's interceptor binds it (with the method) for the handler's log lines and logs
one line per call, so a turn's engine call is found by its request id."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc

from core import log_context

log = logging.getLogger("parley.grpc")


def outgoing() -> tuple[tuple[str, str], ...]:
    """The metadata a client call carries: the current request id, if any."""
    request_id = log_context.request_id()
    return ((log_context.HEADER, request_id),) if request_id else ()


def _incoming(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == log_context.HEADER and isinstance(value, str):
            return log_context.accepted_request_id(value)
    return None


def _wrapped(method: str, behaviour: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
    def unary(request: Any, context: grpc.ServicerContext) -> Any:
        with log_context.bound(request_id=_incoming(context)):
            started = time.monotonic()
            try:
                return behaviour(request, context)
            finally:
                log.info("%s answered in %.1f ms", method, (time.monotonic() - started) * 1e3)

    def stream(request: Any, context: grpc.ServicerContext) -> Any:
        with log_context.bound(request_id=_incoming(context)):
            started = time.monotonic()
            try:
                yield from behaviour(request, context)
            finally:
                log.info("%s streamed in %.1f ms", method, (time.monotonic() - started) * 1e3)

    return stream if streaming else unary


class RequestIdInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = continuation(handler_call_details)
        method = handler_call_details.method.rsplit("/", 1)[-1]
        if handler is None or method == "Check":  # health probes are not worth a line
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrapped(method, handler.unary_unary, False),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrapped(method, handler.unary_stream, True),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return handler
