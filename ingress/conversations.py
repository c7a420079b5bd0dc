"""Routes for conversations: the message list of one conversation, cursor-paginated."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from core import scopes
from ingress.api_models import ConversationMessagesPage, json_of
from ingress.auth import principal_of
from ingress.operations import CURSOR, LIMIT, PAGE, Answer, Operation, Param, documented
from ingress.pagination import decode_cursor, encode_cursor, page_limit
from ingress.routing import ApiRoute
from ingress.state import IngressState
from storage.documents import MessageDocument


@documented(
    Operation(
        "listConversationMessages",
        "A conversation's messages, oldest first",
        "conversations",
        (Answer(200, "One page of messages.", ConversationMessagesPage),),
        {400: PAGE, 404: "`not-found`: no such conversation for this tenant."},
        params=(
            Param("conversation_id", "path", "The conversation's id."),
            LIMIT,
            CURSOR,
        ),
    )
)
async def list_conversation_messages(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    principal = principal_of(request)
    conversation_id = request.path_params["conversation_id"]
    limit = page_limit(request, state.settings.page_size_max)
    cursor = request.query_params.get("cursor")
    after = decode_cursor(cursor, "msg_") if cursor else None

    def load() -> list[MessageDocument]:
        state.conversations.get(principal.tenant_id, conversation_id)  # 404 if not the tenant's
        return state.messages.page(principal.tenant_id, conversation_id, after, limit + 1)

    page = await run_in_threadpool(load)
    more = len(page) > limit
    page = page[:limit]
    answer = ConversationMessagesPage.model_validate(
        {
            "conversation_id": conversation_id,
            "data": page,
            "next_cursor": encode_cursor(str(page[-1]["_id"])) if more else None,
        }
    )
    return JSONResponse(json_of(answer))


routes = [
    ApiRoute(
        "/v1/conversations/{conversation_id}/messages",
        list_conversation_messages,
        methods=["GET"],
        scope=scopes.CONVERSATIONS_READ,
    ),
]
