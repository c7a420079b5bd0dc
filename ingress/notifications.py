"""``GET /v1/notifications``: the alerts a tenant's notification rules sent, newest first, with
what became of each target (sent, skipped because its channel is not configured, refused, or
failed and waiting for a retry)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from core.scopes import NOTIFICATIONS_MANAGE
from ingress.api_models import NotificationPage, NotificationView, json_of
from ingress.auth import principal_of
from ingress.operations import CURSOR, LIMIT, PAGE, Answer, Operation, documented
from ingress.pagination import encode_cursor, page_request
from ingress.routing import ApiRoute
from ingress.state import IngressState

BASE = "/v1/notifications"


@documented(
    Operation(
        "listNotifications",
        "The alerts the tenant's rules sent, newest first",
        "notifications",
        (Answer(200, "One page of alerts.", NotificationPage),),
        {400: PAGE},
        params=(LIMIT, CURSOR),
    )
)
async def list_notifications(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    limit, before = page_request(request, state.settings.page_size_max, "ntf_")
    fetched = await run_in_threadpool(
        state.notification_log.page, principal_of(request).tenant_id, before=before, limit=limit + 1
    )
    docs = fetched[:limit]
    answer = NotificationPage(
        data=[NotificationView.model_validate(doc) for doc in docs],
        next_cursor=encode_cursor(str(docs[-1]["log_id"])) if len(fetched) > limit else None,
    )
    return JSONResponse(json_of(answer))


routes = [ApiRoute(BASE, list_notifications, methods=["GET"], scope=NOTIFICATIONS_MANAGE)]
