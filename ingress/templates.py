"""``GET /v1/templates``: the tenant's WhatsApp message templates, as last synced from Graph."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from core import scopes
from ingress.api_models import TemplateList, TemplateView, json_of
from ingress.auth import principal_of
from ingress.operations import Answer, Operation, Param, documented
from ingress.routing import ApiRoute
from ingress.state import IngressState


@documented(
    Operation(
        "listTemplates",
        "The tenant's WhatsApp message templates",
        "templates",
        (
            Answer(
                200,
                "The templates `parley templates sync` last read from each account's WABA, "
                "in id order.",
                TemplateList,
            ),
        ),
        {},
        params=(
            Param("channel_config_id", "query", "Only this WhatsApp channel config's (`chc_…`)."),
        ),
    )
)
async def list_templates(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    principal = principal_of(request)
    config_id = request.query_params.get("channel_config_id") or None
    docs = await run_in_threadpool(state.templates.list, principal.tenant_id, config_id)
    answer = TemplateList(data=[TemplateView.model_validate(doc) for doc in docs])
    return JSONResponse(json_of(answer))


routes = [
    ApiRoute("/v1/templates", list_templates, methods=["GET"], scope=scopes.MESSAGES_READ),
]
