"""Cursor pagination shared by every list route: opaque cursors, clamped page sizes and
filters that must be one of their values."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from starlette.requests import Request

from ingress.problems import Problem

DEFAULT_PAGE = 50
Doc = TypeVar("Doc", bound=Mapping[str, Any])


def encode_cursor(last_id: str) -> str:
    """An opaque cursor for the page after the record ``last_id``."""
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str) -> str:
    """The id inside a cursor we issued for records whose ids start with ``prefix``."""
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if not decoded.startswith(prefix):
        raise Problem(400, "invalid-cursor", "Invalid cursor", "the cursor is not one we issued")
    return decoded


def page_limit(request: Request, maximum: int) -> int:
    """``?limit=``: a positive integer, clamped to ``maximum``; absent means the default."""
    raw = request.query_params.get("limit")
    if raw is None:
        return min(DEFAULT_PAGE, maximum)
    # ASCII digits only, and short: str.isdigit() also accepts '²', which int() refuses.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or int(raw) < 1:
        raise Problem(400, "invalid-limit", "Invalid limit", "limit must be a positive integer")
    return min(int(raw), maximum)


def query_choice(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    """``?name=``: one of ``choices``, or None when absent or empty."""
    value = request.query_params.get(name) or None
    if value is not None and value not in choices:
        raise Problem(
            400, "invalid-filter", "Invalid filter", f"{name} must be one of {', '.join(choices)}"
        )
    return value


def query_time(request: Request, name: str) -> datetime | None:
    """``?name=``: an RFC 3339 / ISO 8601 time (UTC when it names no offset), or None."""
    raw = request.query_params.get(name) or None
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise Problem(
            400, "invalid-filter", "Invalid filter", f"{name} must be an ISO 8601 time"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def page_request(request: Request, maximum: int, prefix: str) -> tuple[int, str | None]:
    """``(limit, after)``: the page size asked for and the id the cursor names, if any."""
    cursor = request.query_params.get("cursor")
    return page_limit(request, maximum), decode_cursor(cursor, prefix) if cursor else None


def cut_page(fetched: Sequence[Doc], limit: int) -> tuple[list[Doc], str | None]:
    """The page out of ``limit + 1`` records fetched, and the cursor after it (None: last)."""
    page = list(fetched[:limit])
    return page, encode_cursor(str(page[-1]["_id"])) if len(fetched) > limit else None
