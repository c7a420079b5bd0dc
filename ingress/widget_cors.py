"""The browser side of ``/v1/widget/…``: the ``Origin`` check and CORS, for allowed origins only.

An origin a widget does not allow gets 403 ``origin-not-allowed`` and no CORS headers, so a
page elsewhere cannot read a thing. ``WidgetRoute`` is a Starlette ``Route`` that also answers
the CORS preflight (``OPTIONS``) of its path: for a path naming a widget, when that widget
allows the origin; for the visitor routes (a preflight carries no token), when some
widget does.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from starlette.types import Receive, Scope, Send

from ingress.problems import Problem
from ingress.state import IngressState
from storage.widgets import WidgetDocument

ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type"
PREFLIGHT_CACHE_SECONDS = 600


def origin_not_allowed(origin: str | None) -> Problem:
    detail = f"the origin {origin} is not allowed" if origin else "an Origin header is required"
    return Problem(403, "origin-not-allowed", "Forbidden", detail)


def allows(widget: WidgetDocument, origin: str | None) -> bool:
    return origin is not None and origin in widget.get("allowed_origins", ())


def cors_headers(origin: str) -> dict[str, str]:
    """The headers of any answer to an allowed origin."""
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": "Retry-After, Location",
        "Vary": "Origin",
    }


async def preflight(request: Request) -> Response:
    state: IngressState = request.state.parley
    origin = request.headers.get("origin")
    widget_id = request.path_params.get("widget_id")

    def allowed() -> bool:
        if origin is None:
            return False
        if widget_id is None:
            return state.widgets.origin_served(origin)
        widget = state.widgets.find(widget_id)
        return widget is not None and allows(widget, origin)

    if not await run_in_threadpool(allowed):
        raise origin_not_allowed(origin)
    assert origin is not None  # allowed() said so
    return Response(
        status_code=204,
        headers={
            **cors_headers(origin),
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": str(PREFLIGHT_CACHE_SECONDS),
        },
    )


_preflight_app = request_response(preflight)


class WidgetRoute(Route):
    """A route a widget's browser calls: its path's ``OPTIONS`` is the CORS preflight."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "OPTIONS":
            await _preflight_app(scope, receive, send)
        else:
            await super().handle(scope, receive, send)
