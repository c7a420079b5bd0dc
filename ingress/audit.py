"""``GET /v1/audit``: the admin audit trail, newest first (scope ``audit:read``).

A tenant's credential reads its own tenant's entries only. The operator's (tenant ``*`` with
``admin``, which carries ``audit:read``) reads every tenant's and may narrow them with
``tenant_id``; a tenant may name only itself there.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from core.scopes import AUDIT_READ, PLATFORM_TENANT
from ingress.api_models import AuditEntryView, AuditPage, json_of
from ingress.auth import Principal, principal_of
from ingress.operations import CURSOR, LIMIT, PAGE, Answer, Operation, Param, documented
from ingress.pagination import cut_page, page_request, query_time
from ingress.problems import Problem
from ingress.routing import ApiRoute
from ingress.state import IngressState
from storage.admin_audit import ID_PREFIX

TENANT_FILTER = Param(
    "tenant_id", "query", "Operators: only this tenant's entries (`*`: the platform's own)."
)
FROM = Param("from", "query", "Only entries at or after this time (ISO 8601).")
TO = Param("to", "query", "Only entries before this time (ISO 8601).")
TIME_FILTER = " `invalid-filter`: `from` or `to` is not an ISO 8601 time."
FOREIGN_TENANT = "`forbidden-filter`: a tenant's credential named another tenant."


def tenant_scope(request: Request, principal: Principal) -> str | None:
    """The tenant whose entries the caller reads: its own, or for the operator the one it
    names (None: every tenant)."""
    named = request.query_params.get("tenant_id") or None
    if principal.tenant_id == PLATFORM_TENANT:
        return named
    if named is not None and named != principal.tenant_id:
        raise Problem(
            403,
            "forbidden-filter",
            "Forbidden",
            "only the platform operator reads another tenant's audit trail",
        )
    return principal.tenant_id


@documented(
    Operation(
        "listAuditEntries",
        "The admin audit trail, newest first",
        "audit",
        (Answer(200, "One page of entries.", AuditPage),),
        {400: PAGE + TIME_FILTER, 403: FOREIGN_TENANT},
        params=(
            Param("action", "query", "Only entries of this action (`api_key.created`, …)."),
            FROM,
            TO,
            TENANT_FILTER,
            LIMIT,
            CURSOR,
        ),
    )
)
async def list_audit(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    tenant_id = tenant_scope(request, principal_of(request))
    limit, before = page_request(request, state.settings.page_size_max, f"{ID_PREFIX}_")
    since, until = query_time(request, "from"), query_time(request, "to")
    action = request.query_params.get("action") or None
    fetched: list[Any] = await run_in_threadpool(
        lambda: state.admin_audit.page(
            tenant_id=tenant_id,
            action=action,
            since=since,
            until=until,
            before=before,
            limit=limit + 1,
        )
    )
    page, next_cursor = cut_page(fetched, limit)
    answer = AuditPage(
        data=[AuditEntryView.model_validate(doc) for doc in page], next_cursor=next_cursor
    )
    return JSONResponse(json_of(answer))


routes = [ApiRoute("/v1/audit", list_audit, methods=["GET"], scope=AUDIT_READ)]
