"""Visitor credentials: who a visitor token speaks for, checked on every visitor request.

``authenticate_visitor`` is the one check, for the HTTP visitor routes (``VisitorRoute``) and
the socket alike: the token verifies (401), its widget still exists and allows the request's
origin (403 ``origin-not-allowed``), the widget is enabled and its tenant active, both read
again on every call so a switch-off holds at once (403 ``widget-disabled`` /
``tenant-disabled``), and the visitor's rate limit has a token left (429). A visitor route's
401 is counted in the audit trail as an ``auth.failed`` of credential kind ``visitor_token``.

A request without ``Origin`` passes the origin check: browsers send it on every cross-origin
request and socket, and leave it out only of a same-origin GET (a widget on the ingress's own
page); a client that is not a browser can write any ``Origin`` it likes, the token is what it
must hold. ``POST /v1/widget/{widget_id}/sessions``, which takes no token, requires it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import request_response

from core.errors import InvalidToken, TransientError
from core.visitor_tokens import Visitor, verify_visitor_token
from ingress import rate_limit
from ingress.admin_actions import record_auth_failure
from ingress.auth import Unauthorized
from ingress.problems import Problem
from ingress.state import IngressState
from ingress.widget_cors import WidgetRoute, allows, cors_headers, origin_not_allowed
from storage.widgets import WidgetDocument

Endpoint = Callable[[Request], Awaitable[Response]]
CHALLENGE = 'Bearer realm="parley-widget"'
VISITOR_CREDENTIAL = "visitor_token"  # the credential kind of its failed authentications


def _unauthorized(detail: str, reason: str, tenant_id: str | None = None) -> Problem:
    return Unauthorized(detail, reason, tenant_id, challenge=CHALLENGE)


def require_serving(state: IngressState, widget: WidgetDocument) -> None:
    """403 unless the widget is enabled and its tenant active."""
    if not widget.get("enabled", False):
        raise Problem(403, "widget-disabled", "Forbidden", "this widget is disabled")
    if not state.tenants.status(widget["tenant_id"]).active:
        raise Problem(403, "tenant-disabled", "Forbidden", "this tenant is disabled")


def authenticate_visitor(
    state: IngressState, token: str, origin: str | None
) -> tuple[Visitor, WidgetDocument]:
    """The visitor a token speaks for and its widget, or the Problem to answer (401, 403, 429).
    Blocking: call it from a thread."""
    settings = state.settings
    try:
        visitor = verify_visitor_token(
            settings.require_jwt_secret(), token, settings.jwt_leeway_seconds
        )
    except InvalidToken as exc:
        raise _unauthorized(str(exc), exc.code) from None
    widget = state.widgets.find(visitor.widget_id)
    if widget is None or widget["tenant_id"] != visitor.tenant_id:
        raise _unauthorized(
            "the visitor token's widget no longer exists", "widget_gone", visitor.tenant_id
        )
    if origin is not None and not allows(widget, origin):
        raise origin_not_allowed(origin)
    require_serving(state, widget)
    bucket = rate_limit.visitor_bucket(
        state.limiter, settings, visitor.tenant_id, visitor.widget_id, visitor.visitor_id
    )
    verdict = state.limiter.take([bucket])
    if not verdict.allowed:
        raise rate_limit.too_many(verdict, "this visitor's rate limit is exhausted")
    return visitor, widget


def visitor_of(request: Request) -> tuple[Visitor, WidgetDocument]:
    """The visitor and widget the route's guard authenticated."""
    return request.state.visitor, request.state.widget


class VisitorRoute(WidgetRoute):
    """A route for a widget's visitor: ``Authorization: Bearer <visitor token>``; API
    credentials are refused like any bad token. The route table marks it with ``visitor``."""

    visitor = True

    def __init__(self, path: str, endpoint: Endpoint, *, methods: list[str]) -> None:
        super().__init__(path, endpoint, methods=methods)
        # ``self.endpoint`` stays the handler itself: its ``@documented`` entry is keyed by it.
        self.app = request_response(_guarded(endpoint))


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("a visitor token is required", "missing")
    return token.strip()


def _admit(state: IngressState, request: Request) -> tuple[Visitor, WidgetDocument]:
    origin = request.headers.get("origin")
    try:
        return authenticate_visitor(state, _bearer(request), origin)
    except Problem as problem:
        if isinstance(problem, Unauthorized):
            tenant = problem.tenant_id
            record_auth_failure(state, request, VISITOR_CREDENTIAL, problem.reason, tenant)
        # A refusal the page may read (an expired token, a disabled widget) carries CORS
        # headers when some widget allows the origin; a foreign origin learns nothing.
        refused_origin = problem.slug == "origin-not-allowed"
        if origin is not None and not refused_origin and state.widgets.origin_served(origin):
            problem.headers.update(cors_headers(origin))
        raise


def _guarded(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        state: IngressState = request.state.parley
        try:
            visitor, widget = await run_in_threadpool(_admit, state, request)
        except RedisError as exc:  # answered 503 by ``ingress.problems``
            raise TransientError("rate limits cannot be checked right now; retry later") from exc
        request.state.visitor, request.state.widget = visitor, widget
        origin = request.headers.get("origin")
        request.state.answer_headers = cors_headers(origin) if origin else {}  # errors too
        response = await endpoint(request)
        response.headers.update(request.state.answer_headers)
        return response

    return guarded
