"""``GET /docs``: the API reference in a browser, Swagger UI rendering ``/openapi.json``.

Swagger UI's files come from the installed ``swagger-ui-bundle-v2`` package and the page and
its start-up script from ``ingress/static/api-docs.*``, all read once at import: nothing is
loaded from another origin. Like the dashboard, these routes need no credential and hold no
data (the document they render is public); a strict Content-Security-Policy lets the page load
only these files and call only this origin ("Try it out" sends the caller's own credential).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from swagger_ui_bundle import swagger_ui_path

from ingress.operations import Answer, Operation, documented

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "public, max-age=300",
}


@dataclass(frozen=True)
class DocsFile:
    body: bytes
    media_type: str

    def answer(self) -> Response:
        return Response(self.body, media_type=self.media_type, headers=SECURITY_HEADERS)


def _ours(name: str, media_type: str) -> DocsFile:
    return DocsFile((files("ingress") / "static" / name).read_bytes(), media_type)


def _swagger_ui(name: str, media_type: str) -> DocsFile:
    return DocsFile((swagger_ui_path / name).read_bytes(), media_type)


PAGE = _ours("api-docs.html", "text/html; charset=utf-8")
START = _ours("api-docs.js", "text/javascript; charset=utf-8")
BUNDLE = _swagger_ui("swagger-ui-bundle.js", "text/javascript; charset=utf-8")
STYLE = _swagger_ui("swagger-ui.css", "text/css; charset=utf-8")
ICON = _swagger_ui("favicon-32x32.png", "image/png")


def _operation(operation_id: str, summary: str, media_type: str) -> Operation:
    schema = {"type": "string", "format": "binary"} if media_type == "image/png" else None
    return Operation(
        operation_id,
        summary,
        "docs",
        (Answer(200, "The file.", schema=schema or {"type": "string"}, media_type=media_type),),
        authenticated=False,
    )


@documented(_operation("getApiDocs", "The API reference page (Swagger UI)", "text/html"))
async def docs_page(request: Request) -> Response:
    return PAGE.answer()


@documented(
    _operation("getApiDocsScript", "The API reference's start-up script", "text/javascript")
)
async def docs_script(request: Request) -> Response:
    return START.answer()


@documented(_operation("getSwaggerUiBundle", "Swagger UI's script", "text/javascript"))
async def swagger_ui_bundle(request: Request) -> Response:
    return BUNDLE.answer()


@documented(_operation("getSwaggerUiStyle", "Swagger UI's style sheet", "text/css"))
async def swagger_ui_style(request: Request) -> Response:
    return STYLE.answer()


@documented(_operation("getSwaggerUiIcon", "The API reference's icon", "image/png"))
async def swagger_ui_icon(request: Request) -> Response:
    return ICON.answer()


routes = [
    Route("/docs", docs_page, methods=["GET"]),
    Route("/docs/api-docs.js", docs_script, methods=["GET"]),
    Route("/docs/swagger-ui-bundle.js", swagger_ui_bundle, methods=["GET"]),
    Route("/docs/swagger-ui.css", swagger_ui_style, methods=["GET"]),
    Route("/docs/favicon-32x32.png", swagger_ui_icon, methods=["GET"]),
]
