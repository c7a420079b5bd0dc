"""Routes for conversations: list a tenant's, show one, close one, and one conversation's
messages, cursor-paginated."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from core import scopes
from ingress.admin_actions import Audited
from ingress.api_models import (
    ConversationMessagesPage,
    ConversationPage,
    ConversationView,
    json_of,
)
from ingress.auth import principal_of
from ingress.operations import (
    CURSOR,
    INVALID_FILTER,
    LIMIT,
    PAGE,
    Answer,
    Operation,
    Param,
    documented,
)
from ingress.pagination import decode_cursor, encode_cursor, page_limit, query_choice
from ingress.routing import ApiRoute
from ingress.state import IngressState
from storage.conversations import CLOSED_BY_CALLER, CONVERSATION_STATES
from storage.documents import MessageDocument
from tasks.conversations import close_conversation

CONVERSATION_ID = Param("conversation_id", "path", "The conversation's id (`conv_…`).")
NO_CONVERSATION = "`not-found`: no such conversation for this tenant."


def _state(request: Request) -> IngressState:
    state: IngressState = request.state.parley
    return state


@documented(
    Operation(
        "listConversations",
        "The tenant's conversations, filtered, in id order",
        "conversations",
        (Answer(200, "One page of conversations.", ConversationPage),),
        {400: PAGE + INVALID_FILTER},
        params=(
            Param("channel", "query", "Only conversations on this channel (`api`, `slack`, …)."),
            Param(
                "status",
                "query",
                "Only open or only closed ones.",
                {"enum": [*CONVERSATION_STATES]},
            ),
            Param("user_id", "query", "Only this user's."),
            LIMIT,
            CURSOR,
        ),
    )
)
async def list_conversations(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    limit = page_limit(request, state.settings.page_size_max)
    cursor = request.query_params.get("cursor")
    page = await run_in_threadpool(
        state.conversations.list,
        principal.tenant_id,
        channel=request.query_params.get("channel") or None,
        state=query_choice(request, "status", CONVERSATION_STATES),
        user_id=request.query_params.get("user_id") or None,
        after=decode_cursor(cursor, "conv_") if cursor else None,
        limit=limit + 1,
    )
    more = len(page) > limit
    page = page[:limit]
    answer = ConversationPage.model_validate(
        {"data": page, "next_cursor": encode_cursor(str(page[-1]["_id"])) if more else None}
    )
    return JSONResponse(json_of(answer))


@documented(
    Operation(
        "getConversation",
        "One conversation",
        "conversations",
        (Answer(200, "The conversation.", ConversationView),),
        {404: NO_CONVERSATION},
        params=(CONVERSATION_ID,),
    )
)
async def get_conversation(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    doc = await run_in_threadpool(
        state.conversations.get, principal.tenant_id, request.path_params["conversation_id"]
    )
    return JSONResponse(json_of(ConversationView.model_validate(doc)))


@documented(
    Operation(
        "closeConversation",
        "Close a conversation: the user's next message opens a new one",
        "conversations",
        (
            Answer(
                200,
                "The closed conversation (unchanged if it was closed already).",
                ConversationView,
            ),
        ),
        {404: NO_CONVERSATION},
        params=(CONVERSATION_ID,),
    )
)
async def close_conversation_route(request: Request) -> JSONResponse:
    state = _state(request)
    principal = principal_of(request)
    doc, _ = await run_in_threadpool(
        close_conversation,
        state,
        principal.tenant_id,
        request.path_params["conversation_id"],
        CLOSED_BY_CALLER,
    )
    return JSONResponse(json_of(ConversationView.model_validate(doc)))


@documented(
    Operation(
        "listConversationMessages",
        "A conversation's messages, oldest first",
        "conversations",
        (Answer(200, "One page of messages.", ConversationMessagesPage),),
        {400: PAGE, 404: NO_CONVERSATION},
        params=(CONVERSATION_ID, LIMIT, CURSOR),
    )
)
async def list_conversation_messages(request: Request) -> JSONResponse:
    state = _state(request)
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
        "/v1/conversations", list_conversations, methods=["GET"], scope=scopes.CONVERSATIONS_READ
    ),
    ApiRoute(
        "/v1/conversations/{conversation_id}",
        get_conversation,
        methods=["GET"],
        scope=scopes.CONVERSATIONS_READ,
    ),
    ApiRoute(
        "/v1/conversations/{conversation_id}/close",
        close_conversation_route,
        methods=["POST"],
        scope=scopes.CONVERSATIONS_MANAGE,
        audit=Audited("conversation.closed", "conversation", "conversation_id"),
    ),
    ApiRoute(
        "/v1/conversations/{conversation_id}/messages",
        list_conversation_messages,
        methods=["GET"],
        scope=scopes.CONVERSATIONS_READ,
    ),
]
