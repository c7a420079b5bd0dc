"""The Starlette application: routes, error handlers, and clients opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from core import tracing
from core.settings import Settings, get_settings
from ingress import (
    analytics,
    api_docs,
    audit,
    channels_admin,
    compliance,
    conversations,
    dashboard,
    dead_letters,
    demo,
    health,
    keys_admin,
    messages,
    metrics,
    notification_rules,
    notifications,
    openapi,
    outbound,
    privacy,
    templates,
    tenants_admin,
    tokens_admin,
    webhook_subscriptions,
    webhooks,
    widget_assets,
    widget_messages,
    widget_sessions,
    widget_uploads,
    widgets_admin,
    ws,
)
from ingress.problems import EXCEPTION_HANDLERS, handle_http_exception, handle_unexpected
from ingress.request_ids import RequestIds
from ingress.state import IngressState
from storage.telemetry import TelemetryBuffer

log = logging.getLogger("parley.ingress")


async def _flush_observations(state: IngressState) -> None:
    """Queue the ingress's telemetry once a second, off the event loop."""
    while True:
        await asyncio.sleep(TelemetryBuffer.FLUSH_SECONDS)
        try:
            await run_in_threadpool(state.observations.flush)
        except Exception:  # the next second tries again; a request never waits on this
            log.exception("could not queue the ingress's telemetry")


def _tracing() -> list[Middleware]:
    """The request's server span, when traces are on (core/tracing.py)."""
    if not tracing.configure("parley-ingress"):
        return []
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return [Middleware(OpenTelemetryMiddleware)]


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    settings.require_jwt_secret()  # fail at start-up, not on the first request

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        state = await run_in_threadpool(IngressState, settings)
        flushing = asyncio.create_task(_flush_observations(state))
        log.info("ingress ready")
        try:
            yield {"parley": state}
        finally:
            flushing.cancel()
            await run_in_threadpool(state.observations.flush)
            await state.stream_redis.aclose()
            await run_in_threadpool(state.close)
            metrics.forget_process()

    handlers: dict[Any, Any] = {
        **EXCEPTION_HANDLERS,
        HTTPException: handle_http_exception,
        Exception: handle_unexpected,
    }
    return Starlette(
        routes=[
            *messages.routes,
            *outbound.routes,
            *templates.routes,
            *conversations.routes,
            *channels_admin.routes,
            *widgets_admin.routes,
            *widget_sessions.routes,
            *widget_messages.routes,
            *widget_uploads.routes,
            *tenants_admin.routes,
            *keys_admin.routes,
            *tokens_admin.routes,
            *dead_letters.routes,
            *privacy.routes,
            *audit.routes,
            *compliance.routes,
            *webhooks.routes,
            *webhook_subscriptions.routes,
            *notification_rules.routes,
            *notifications.routes,
            *analytics.routes,
            *ws.routes,
            *health.routes,
            *metrics.routes,
            *openapi.routes,
            *widget_assets.routes,
            *dashboard.routes,
            *api_docs.routes,
            *demo.routes,
        ],
        exception_handlers=handlers,
        lifespan=lifespan,
        middleware=[*_tracing(), Middleware(RequestIds), Middleware(metrics.MetricsMiddleware)],
    )
