"""Routes for conversations: the message list of one conversation, cursor-paginated."""

from __future__ import annotations

import base64
import binascii

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ingress.messages import message_view
from ingress.problems import Problem
from ingress.state import IngressState

DEFAULT_PAGE = 50


def encode_cursor(message_id: str) -> str:
    return base64.urlsafe_b64encode(message_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if not decoded.startswith("msg_"):
        raise Problem(400, "invalid-cursor", "Invalid cursor", "the cursor is not one we issued")
    return decoded


def _limit(request: Request, maximum: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return min(DEFAULT_PAGE, maximum)
    # ASCII digits only, and short: str.isdigit() also accepts '²', which int() refuses.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or int(raw) < 1:
        raise Problem(400, "invalid-limit", "Invalid limit", "limit must be a positive integer")
    return min(int(raw), maximum)


async def list_conversation_messages(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    principal = state.verifier.principal(request)
    conversation_id = request.path_params["conversation_id"]
    limit = _limit(request, state.settings.page_size_max)
    cursor = request.query_params.get("cursor")
    after = decode_cursor(cursor) if cursor else None

    def load() -> list[dict[str, object]]:
        state.conversations.get(principal.tenant_id, conversation_id)  # 404 if not the tenant's
        return state.messages.page(principal.tenant_id, conversation_id, after, limit + 1)

    page = await run_in_threadpool(load)
    more = len(page) > limit
    page = page[:limit]
    return JSONResponse(
        {
            "conversation_id": conversation_id,
            "data": [message_view(m) for m in page],
            "next_cursor": encode_cursor(str(page[-1]["_id"])) if more else None,
        }
    )


routes = [
    Route(
        "/v1/conversations/{conversation_id}/messages", list_conversation_messages, methods=["GET"]
    ),
]
