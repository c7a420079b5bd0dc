"""``GET /dashboard`` and its script and style: the tenants' analytics dashboard.

Static files (``ingress/static/dashboard.*``), read once at import; the page asks for a tenant
API key or token and calls ``/v1/analytics/*`` with it from the browser, so these routes need
no credential and hold no data. A strict Content-Security-Policy lets the page load only its
own files and talk only to this origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingress.operations import Answer, Operation, documented

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class DashboardFile:
    body: bytes
    media_type: str

    @classmethod
    def read(cls, name: str, media_type: str) -> DashboardFile:
        return cls((files("ingress") / "static" / name).read_bytes(), media_type)

    def answer(self) -> Response:
        return Response(self.body, media_type=self.media_type, headers=SECURITY_HEADERS)


PAGE = DashboardFile.read("dashboard.html", "text/html; charset=utf-8")
SCRIPT = DashboardFile.read("dashboard.js", "text/javascript; charset=utf-8")
STYLE = DashboardFile.read("dashboard.css", "text/css; charset=utf-8")


def _operation(operation_id: str, summary: str, media_type: str) -> Operation:
    return Operation(
        operation_id,
        summary,
        "analytics",
        (Answer(200, "The file.", schema={"type": "string"}, media_type=media_type),),
        authenticated=False,
    )


@documented(_operation("getDashboard", "The analytics dashboard page", "text/html"))
async def dashboard_page(request: Request) -> Response:
    return PAGE.answer()


@documented(_operation("getDashboardScript", "The dashboard's script", "text/javascript"))
async def dashboard_script(request: Request) -> Response:
    return SCRIPT.answer()


@documented(_operation("getDashboardStyle", "The dashboard's style sheet", "text/css"))
async def dashboard_style(request: Request) -> Response:
    return STYLE.answer()


routes = [
    Route("/dashboard", dashboard_page, methods=["GET"]),
    Route("/dashboard/dashboard.js", dashboard_script, methods=["GET"]),
    Route("/dashboard/dashboard.css", dashboard_style, methods=["GET"]),
]
