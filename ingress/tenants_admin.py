"""The platform operator's tenant routes, ``/v1/admin/tenants…``: create, list, show, update
(settings, ``state: disabled``), and register a channel config for a tenant (proven with the
provider first, as a tenant's own ``POST /v1/admin/channels`` is).

Every route needs the ``admin`` scope, which only a platform credential carries (see
``core.scopes``). Input models forbid unknown fields; settings groups are replaced whole.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

import processors.catalog  # noqa: F401  (fills the registry a processing config names)
from core.scopes import ADMIN
from ingress.admin_actions import Audited
from ingress.api_models import ChannelConfigView, TenantPage, TenantView, created, json_of
from ingress.body import read_json, validate
from ingress.channels_admin import CONNECT_BODY, CONNECT_ERRORS, ChannelConfigIn, require_proof
from ingress.operations import (
    CURSOR,
    INVALID,
    LIMIT,
    MALFORMED,
    PAGE,
    TOO_LARGE,
    Answer,
    Operation,
    Param,
    documented,
)
from ingress.pagination import decode_cursor, encode_cursor, page_limit
from ingress.routing import ApiRoute
from ingress.state import IngressState
from processors.config import validate as validate_processing
from processors.registry import processor_names

TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,62}$"
TENANT_ID = Param("tenant_id", "path", "The tenant's id.")
NO_TENANT = "`not-found`: no such tenant."


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RateLimitsIn(_In):
    """Token buckets; a field left out falls back to the platform default."""

    per_second: float | None = Field(default=None, gt=0, le=100_000)
    burst: int | None = Field(default=None, ge=1, le=1_000_000)
    credential_per_second: float | None = Field(default=None, gt=0, le=100_000)
    credential_burst: int | None = Field(default=None, ge=1, le=1_000_000)


class QuotasIn(_In):
    messages_per_day: int | None = Field(default=None, ge=0, le=1_000_000_000)


class EngineIn(_In):
    backend: Literal["rules", "openai"] | None = None
    model: str | None = Field(default=None, min_length=1, max_length=128)
    temperature: float | None = Field(default=None, ge=0, le=2)
    system_prompt: str | None = Field(default=None, max_length=4000)


class BurstsIn(_In):
    """Messages of one user answered as one turn (docs/bursts.md)."""

    window_ms: int | None = Field(default=None, ge=0, le=10_000)
    max_messages: int | None = Field(default=None, ge=1, le=100)


class _TenantSettingsIn(_In):
    rate_limits: RateLimitsIn | None = None
    quotas: QuotasIn | None = None
    engine: EngineIn | None = None
    bursts: BurstsIn | None = None
    processing: dict[str, Any] | None = Field(
        default=None, description="the processing pipeline's config (docs/processing.md)"
    )
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    conversation_idle_minutes: int | None = Field(default=None, ge=1, le=525_600)

    @field_validator("processing")
    @classmethod
    def _applicable(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            validate_processing(value, processor_names())  # InvalidConfig is a ValueError: 422
        return value


class TenantIn(_TenantSettingsIn):
    """``POST /v1/admin/tenants``."""

    id: str = Field(pattern=TENANT_ID_PATTERN, description="lower-case letters, digits, - and _")
    name: str = Field(min_length=1, max_length=200)


class TenantPatch(_TenantSettingsIn):
    """``PATCH /v1/admin/tenants/{tenant_id}``: only the fields given change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    state: Literal["active", "disabled"] | None = None


def settings_of(payload: BaseModel) -> dict[str, Any]:
    """The fields the caller gave, as stored; a null, at the top or inside a group, means
    "the default" (on update: remove the setting)."""
    given = payload.model_dump(exclude_unset=True)
    return {
        name: {k: v for k, v in value.items() if v is not None}
        if isinstance(value, dict)
        else value
        for name, value in given.items()
    }


def _state(request: Request) -> IngressState:
    state: IngressState = request.state.parley
    return state


@documented(
    Operation(
        "createTenant",
        "Create a tenant",
        "admin",
        (
            Answer(
                201,
                "Created, active.",
                TenantView,
                headers={"Location": "`/v1/admin/tenants/{id}`"},
            ),
        ),
        {400: MALFORMED, 409: "`conflict`: the id is taken.", 413: TOO_LARGE, 422: INVALID},
        body=TenantIn,
    )
)
async def create_tenant(request: Request) -> JSONResponse:
    state = _state(request)
    payload = validate(TenantIn, await read_json(request, state.settings))
    fields = settings_of(payload)
    doc = await run_in_threadpool(state.tenant_records.create, payload.id, payload.name, fields)
    view = TenantView.model_validate(doc)
    return created(view, f"/v1/admin/tenants/{view.id}")


@documented(
    Operation(
        "listTenants",
        "Every tenant, in id order",
        "admin",
        (Answer(200, "One page of tenants.", TenantPage),),
        {400: PAGE},
        params=(LIMIT, CURSOR),
    )
)
async def list_tenants(request: Request) -> JSONResponse:
    state = _state(request)
    limit = page_limit(request, state.settings.page_size_max)
    cursor = request.query_params.get("cursor")
    after = decode_cursor(cursor, "tenant:")[len("tenant:") :] if cursor else None
    page = await run_in_threadpool(state.tenant_records.list, after, limit + 1)
    more = len(page) > limit
    page = page[:limit]
    answer = TenantPage.model_validate(
        {
            "data": page,
            "next_cursor": encode_cursor(f"tenant:{page[-1]['_id']}") if more else None,
        }
    )
    return JSONResponse(json_of(answer))


@documented(
    Operation(
        "getTenant",
        "One tenant",
        "admin",
        (Answer(200, "The tenant.", TenantView),),
        {404: NO_TENANT},
        params=(TENANT_ID,),
    )
)
async def get_tenant(request: Request) -> JSONResponse:
    state = _state(request)
    doc = await run_in_threadpool(state.tenant_records.require, request.path_params["tenant_id"])
    return JSONResponse(json_of(TenantView.model_validate(doc)))


@documented(
    Operation(
        "updateTenant",
        "Change a tenant's name, state or settings",
        "admin",
        (Answer(200, "The tenant as it is now.", TenantView),),
        {400: MALFORMED, 404: NO_TENANT, 413: TOO_LARGE, 422: INVALID},
        params=(TENANT_ID,),
        body=TenantPatch,
        body_description="Only the fields given change; a settings group given is replaced "
        "whole. `state: disabled` refuses all of the tenant's traffic, webhooks included, "
        "within `PARLEY_TENANT_CACHE_SECONDS`.",
    )
)
async def update_tenant(request: Request) -> JSONResponse:
    state = _state(request)
    payload = validate(TenantPatch, await read_json(request, state.settings))
    doc = await run_in_threadpool(
        state.tenant_records.update, request.path_params["tenant_id"], settings_of(payload)
    )
    return JSONResponse(json_of(TenantView.model_validate(doc)))


@documented(
    Operation(
        "createTenantChannelConfig",
        "Connect a provider account for a tenant",
        "admin",
        (Answer(201, "Created; secrets are never shown.", ChannelConfigView),),
        {**CONNECT_ERRORS, 404: NO_TENANT},
        params=(TENANT_ID,),
        body=ChannelConfigIn,
        body_description=CONNECT_BODY,
    )
)
async def create_tenant_channel(request: Request) -> JSONResponse:
    state = _state(request)
    tenant_id = request.path_params["tenant_id"]
    payload = validate(ChannelConfigIn, await read_json(request, state.settings))

    def create() -> dict[str, Any]:
        state.tenant_records.require(tenant_id)
        require_proof(payload, state.channels)
        return state.channel_configs.create(
            tenant_id, payload.channel, payload.account_id, payload.secrets, payload.options
        )

    doc = await run_in_threadpool(create)
    view = ChannelConfigView.of(doc, state.settings.public_base_url)
    return JSONResponse(json_of(view), status_code=201)


TENANT = "/v1/admin/tenants/{tenant_id}"
routes = [
    ApiRoute(
        "/v1/admin/tenants",
        create_tenant,
        methods=["POST"],
        scope=ADMIN,
        audit=Audited("tenant.created", "tenant", detail=("name", "state"), fields=True),
    ),
    ApiRoute("/v1/admin/tenants", list_tenants, methods=["GET"], scope=ADMIN),
    ApiRoute(TENANT, get_tenant, methods=["GET"], scope=ADMIN),
    ApiRoute(
        TENANT,
        update_tenant,
        methods=["PATCH"],
        scope=ADMIN,
        audit=Audited("tenant.updated", "tenant", "tenant_id", detail=("state",), fields=True),
    ),
    ApiRoute(
        f"{TENANT}/channels",
        create_tenant_channel,
        methods=["POST"],
        scope=ADMIN,
        audit=Audited("channel.created", "channel_config", detail=("channel", "account_id")),
    ),
]
