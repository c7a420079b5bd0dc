"""``GET /widget.js`` and its versioned twin ``GET /widget/{hash}.js``: the embeddable chat widget.

The file (``ingress/static/widget.js``) is read once, when this module is imported at start-up;
its content hash is both the strong ``ETag`` and the version in the immutable URL, so a page
may pin a version for a year while ``/widget.js`` is revalidated every five minutes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ingress.operations import Answer, Operation, Param, documented
from ingress.problems import Problem

WIDGET_FILE = Path(__file__).parent / "static" / "widget.js"
JAVASCRIPT = "text/javascript; charset=utf-8"
SHORT_CACHE = "public, max-age=300"
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class WidgetAsset:
    body: bytes
    version: str  # the content hash: ETag and the versioned URL's name

    @classmethod
    def read(cls, path: Path = WIDGET_FILE) -> WidgetAsset:
        body = path.read_bytes()
        return cls(body, hashlib.sha256(body).hexdigest()[:20])

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    def answer(self, request: Request, cache_control: str) -> Response:
        headers = {
            "ETag": self.etag,
            "Cache-Control": cache_control,
            "X-Content-Type-Options": "nosniff",
        }
        if self._matches(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=JAVASCRIPT, headers=headers)

    def _matches(self, if_none_match: str) -> bool:
        # RFC 9110 §13.1.2: a list of tags compared weakly, or "*".
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or self.etag in tags


ASSET = WidgetAsset.read()

CACHE_HEADERS = {
    "ETag": "the content hash of the script (strong)",
    "Cache-Control": "how long the answer may be reused",
}
# Not a declared parameter: every string is a valid If-None-Match, so no input is refused.
REVALIDATION = "An `If-None-Match` holding the current `ETag` answers 304 with no body."
SCRIPT = {"type": "string", "description": "The widget's JavaScript (ES2020, styles inside)."}


def _answers(fresh: str) -> tuple[Answer, ...]:
    return (
        Answer(200, fresh, schema=SCRIPT, media_type="text/javascript", headers=CACHE_HEADERS),
        Answer(304, REVALIDATION, headers=CACHE_HEADERS),
    )


@documented(
    Operation(
        "getWidgetScript",
        "The embeddable chat widget",
        "widget",
        _answers("The script; `Cache-Control: public, max-age=300`."),
        authenticated=False,
        description='Embed with `<script src=".../widget.js" data-widget="wgt_…" async>`; '
        "the script finds its API from its own `src`. " + REVALIDATION,
    )
)
async def widget_script(request: Request) -> Response:
    return ASSET.answer(request, SHORT_CACHE)


@documented(
    Operation(
        "getWidgetScriptVersion",
        "One version of the chat widget, cacheable forever",
        "widget",
        _answers("The script; `Cache-Control: public, max-age=31536000, immutable`."),
        errors={404: "`not-found`: the ingress serves another version of the widget."},
        params=(
            Param(
                "hash",
                "path",
                "The version: the current `ETag` without quotes.",
                {"type": "string", "pattern": "^[0-9a-f]{20}$"},
            ),
        ),
        authenticated=False,
        description=REVALIDATION,
    )
)
async def widget_script_version(request: Request) -> Response:
    if request.path_params["hash"] != ASSET.version:
        raise Problem(404, "not-found", "Not found", "this ingress serves another widget version")
    return ASSET.answer(request, IMMUTABLE_CACHE)


routes = [
    Route("/widget.js", widget_script, methods=["GET"]),
    Route("/widget/{hash}.js", widget_script_version, methods=["GET"]),
]
