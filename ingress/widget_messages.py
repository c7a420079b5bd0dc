"""What a widget shows of messages: ``visitor_message`` (the ``message`` event's ``message``,
for this route and the socket alike) and ``GET /v1/widget/messages``, the visitor's history.

A visitor's conversation is the one resolved with channel ``web``, its id as the user and the
widget as the scope (``docs/widget-protocol.md``): the token names all three, so no request can
reach another visitor's, widget's or tenant's conversation.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from core.visitor_events import visitor_message as message_view
from ingress.api_models import VisitorHistory, VisitorMessage, json_of
from ingress.operations import Answer, Operation, documented
from ingress.state import IngressState
from ingress.visitor_auth import VisitorRoute, visitor_of

WEB = "web"
HISTORY_LIMIT = 100


def visitor_message(doc: Any) -> dict[str, Any]:
    """A stored message as the widget shows it: the socket's shape, checked by the model."""
    return VisitorMessage.model_validate(message_view(doc)).model_dump(mode="json")


@documented(
    Operation(
        "getVisitorHistory",
        "The visitor's conversation on this widget",
        "widget",
        (Answer(200, "The current (or last) conversation, oldest first.", VisitorHistory),),
        {},
    )
)
async def visitor_history(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    visitor, _ = visitor_of(request)
    tenant, widget_id, visitor_id = visitor.tenant_id, visitor.widget_id, visitor.visitor_id

    def load() -> dict[str, Any]:
        # The stream's position first: an event published meanwhile is then replayed by the
        # socket (the widget drops ids it shows already) rather than lost.
        last_event_id = state.visitor_streams.last_id(tenant, widget_id, visitor_id)
        conversation = state.conversations.latest(tenant, WEB, visitor_id, widget_id)
        if conversation is None:
            return {"conversation": None, "messages": [], "last_event_id": last_event_id}
        docs = state.messages.history(tenant, conversation["_id"], None, HISTORY_LIMIT)
        return {
            "conversation": {"id": conversation["_id"], "status": conversation["state"]},
            "messages": [visitor_message(doc) for doc in docs],
            "last_event_id": last_event_id,
        }

    answer = VisitorHistory.model_validate(await run_in_threadpool(load))
    return JSONResponse(json_of(answer))


routes = [VisitorRoute("/v1/widget/messages", visitor_history, methods=["GET"])]
