"""``GET /demo``: a page embedding the demo tenant's widget, served when ``parley run`` names it.

The widget is ``PARLEY_DEMO_WIDGET_ID``; without it (every deployment) the page does not exist.
"""

from __future__ import annotations

import html
from functools import cache
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from ingress.operations import Answer, Operation, documented
from ingress.problems import Problem
from ingress.state import IngressState

PLACEHOLDER = "{{WIDGET_ID}}"


@cache
def _template() -> str:
    return (files("ingress") / "static" / "demo.html").read_text(encoding="utf-8")


def demo_page(widget_id: str) -> str:
    """The demo page's HTML with ``widget_id`` in its embed tag."""
    return _template().replace(PLACEHOLDER, html.escape(widget_id, quote=True))


@documented(
    Operation(
        "getDemoPage",
        "A page that embeds the demo tenant's chat widget (development only)",
        "widget",
        (Answer(200, "The demo page.", schema={"type": "string"}, media_type="text/html"),),
        errors={404: "`not-found`: no demo widget is set (`PARLEY_DEMO_WIDGET_ID`)."},
        authenticated=False,
    )
)
async def demo(request: Request) -> HTMLResponse:
    state: IngressState = request.state.parley
    widget_id = state.settings.demo_widget_id
    if widget_id is None:
        raise Problem(404, "not-found", "Not found", "there is no demo page here")
    return HTMLResponse(demo_page(widget_id))


routes = [Route("/demo", demo, methods=["GET"])]
