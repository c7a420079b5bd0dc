"""The engine's HTTP endpoint: ``GET /v1/analytics/summary`` for the bearer token's tenant, the
same figures and parameters as the ingress route (docs/analytics.md), and ``GET /health``.

A tenant JWT (``PARLEY_JWT_SECRET``, or the JWKS the settings name) is the only credential; the
tenant comes from it alone, and a token with scopes must hold ``analytics:read``. Errors are
problem+json; nothing is logged of the token.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from core.errors import InvalidToken
from core.jwt_verifier import JwtVerifier
from core.scopes import ANALYTICS_READ
from core.timeutil import isoformat
from storage.analytics_report import AnalyticsReport

log = logging.getLogger("parley.analytics_engine")
DEFAULT_RANGE = timedelta(hours=24)
MAX_RANGE = timedelta(days=366)


class Refused(Exception):
    def __init__(self, status: int, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail = status, slug, detail


def _time(query: dict[str, list[str]], name: str) -> datetime | None:
    raw = (query.get(name) or [""])[0]
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None or at.year < 1970:
        raise Refused(400, "invalid-time", f"{name} must be RFC 3339 with an offset")
    return at.astimezone(UTC)


def summary_answer(
    report: AnalyticsReport, verifier: JwtVerifier, authorization: str, target: str
) -> dict[str, Any]:
    """The summary a request asks for, or ``Refused``."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Refused(401, "unauthorized", "a bearer token is required")
    try:
        claims = verifier.verify(token.strip())
    except InvalidToken:
        raise Refused(401, "unauthorized", "the token is not acceptable") from None
    if claims.scopes is not None and ANALYTICS_READ not in claims.scopes:
        raise Refused(403, "forbidden", f"the token lacks the {ANALYTICS_READ} scope")
    query = parse_qs(urlsplit(target).query)
    end = _time(query, "to") or datetime.now(UTC)
    start = _time(query, "from") or end - DEFAULT_RANGE
    if not start < end or end - start > MAX_RANGE:
        raise Refused(422, "invalid-range", "from must be before to, at most 366 days apart")
    channel = (query.get("channel") or [""])[0] or None
    figures = report.summary(claims.tenant_id, start, end, channel)
    return {
        "start": isoformat(start),
        "end": isoformat(end),
        "channel": channel,
        "figures": figures,
    }


def make_server(
    host: str, port: int, report: AnalyticsReport, verifier: JwtVerifier
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            try:
                if path == "/health":
                    self._send(200, "application/json", {"status": "ok"})
                    return
                if path != "/v1/analytics/summary":
                    raise Refused(404, "not-found", "no such route")
                authorization = self.headers.get("Authorization", "")
                self._send(
                    200,
                    "application/json",
                    summary_answer(report, verifier, authorization, self.path),
                )
            except Refused as refused:
                problem = {
                    "type": f"https://parley.dev/problems/{refused.slug}",
                    "title": refused.slug.replace("-", " ").capitalize(),
                    "status": refused.status,
                    "detail": refused.detail,
                }
                self._send(refused.status, "application/problem+json", problem)
            except Exception:
                log.exception("summary failed")
                problem = {"type": "about:blank", "title": "Unavailable", "status": 503}
                self._send(503, "application/problem+json", problem)

        def _send(self, status: int, media_type: str, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.command, urlsplit(self.path).path)  # never the query or token

    return ThreadingHTTPServer((host, port), Handler)
