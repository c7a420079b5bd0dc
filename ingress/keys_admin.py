"""The platform operator's API-key routes, ``/v1/admin/tenants/{tenant_id}/keys…``: issue,
list, rotate and revoke a tenant's keys.

A key's plaintext is in the answer to ``issue`` and ``rotate`` only; it is stored as a hash and
never shown, logged or listed again. A revoked key is refused from the next request on: the
ingress checks keys against MongoDB on every request (the Security Hub caches its answers for
``PARLEY_SECURITY_HUB_CACHE_SECONDS``), so no restart is needed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.errors import NotFound
from core.scopes import ADMIN, TENANT_SCOPES
from ingress.admin_actions import Audited, note
from ingress.api_models import ApiKeyList, IssuedApiKey, json_of
from ingress.body import read_json, validate
from ingress.operations import INVALID, MALFORMED, TOO_LARGE, Answer, Operation, Param, documented
from ingress.routing import ApiRoute
from ingress.state import IngressState
from ingress.tenants_admin import NO_TENANT, TENANT_ID
from storage.credentials import KeyDocument

KEY_ID = Param("key_id", "path", "The API key's id (`key_…`).")
NO_KEY = "`not-found`: the tenant has no such active key."

TenantScope = Literal[
    "messages:write",
    "messages:read",
    "conversations:read",
    "conversations:manage",
    "channels:manage",
    "deadletters:read",
    "deadletters:manage",
    "privacy:manage",
    "webhooks:manage",
    "notifications:manage",
    "audit:read",
    "analytics:read",
]


class ApiKeyIn(BaseModel):
    """``POST /v1/admin/tenants/{tenant_id}/keys``: a tenant key holds tenant scopes only."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=100)
    scopes: list[TenantScope] = Field(min_length=1, max_length=len(TENANT_SCOPES))


def _state(request: Request) -> IngressState:
    state: IngressState = request.state.parley
    return state


def _issued(doc: KeyDocument, plaintext: str) -> JSONResponse:
    return JSONResponse(
        json_of(IssuedApiKey.of(doc, plaintext)),
        status_code=201,
        headers={"Cache-Control": "no-store"},  # the only time the key is shown
    )


@documented(
    Operation(
        "issueApiKey",
        "Issue an API key for a tenant",
        "admin",
        (Answer(201, "Issued; `key` is shown this once.", IssuedApiKey),),
        {400: MALFORMED, 404: NO_TENANT, 413: TOO_LARGE, 422: INVALID},
        params=(TENANT_ID,),
        body=ApiKeyIn,
    )
)
async def issue_key(request: Request) -> JSONResponse:
    state = _state(request)
    tenant_id = request.path_params["tenant_id"]
    payload = validate(ApiKeyIn, await read_json(request, state.settings))

    def issue() -> tuple[KeyDocument, str]:
        state.tenant_records.require(tenant_id)
        return state.keys.issue(tenant_id, payload.name, list(payload.scopes))

    return _issued(*await run_in_threadpool(issue))


@documented(
    Operation(
        "listApiKeys",
        "A tenant's API keys, revoked ones included, never their secrets",
        "admin",
        (Answer(200, "The keys, oldest first.", ApiKeyList),),
        {404: NO_TENANT},
        params=(TENANT_ID,),
    )
)
async def list_keys(request: Request) -> JSONResponse:
    state = _state(request)
    tenant_id = request.path_params["tenant_id"]

    def load() -> list[KeyDocument]:
        state.tenant_records.require(tenant_id)
        return state.keys.list(tenant_id)

    docs = await run_in_threadpool(load)
    return JSONResponse(json_of(ApiKeyList.model_validate({"data": docs})))


@documented(
    Operation(
        "rotateApiKey",
        "Replace a key by a new one with its name and scopes; the old one is revoked",
        "admin",
        (Answer(201, "The new key; `key` is shown this once.", IssuedApiKey),),
        {404: NO_KEY},
        params=(TENANT_ID, KEY_ID),
    )
)
async def rotate_key(request: Request) -> JSONResponse:
    state = _state(request)
    params = request.path_params
    doc, plaintext = await run_in_threadpool(
        state.keys.rotate, params["tenant_id"], params["key_id"]
    )
    note(request, replaced_by=doc["_id"])
    return _issued(doc, plaintext)


@documented(
    Operation(
        "revokeApiKey",
        "Revoke a key: refused from the next request on",
        "admin",
        (Answer(204, "Revoked."),),
        {404: NO_KEY},
        params=(TENANT_ID, KEY_ID),
    )
)
async def revoke_key(request: Request) -> Response:
    state = _state(request)
    tenant_id, key_id = request.path_params["tenant_id"], request.path_params["key_id"]
    if not await run_in_threadpool(state.keys.revoke, tenant_id, key_id):
        raise NotFound(f"api key {key_id} not found")
    return Response(status_code=204)


KEYS = "/v1/admin/tenants/{tenant_id}/keys"
routes = [
    ApiRoute(
        KEYS,
        issue_key,
        methods=["POST"],
        scope=ADMIN,
        audit=Audited("api_key.created", "api_key", detail=("name", "scopes")),
    ),
    ApiRoute(KEYS, list_keys, methods=["GET"], scope=ADMIN),
    ApiRoute(
        KEYS + "/{key_id}/rotate",
        rotate_key,
        methods=["POST"],
        scope=ADMIN,
        audit=Audited("api_key.rotated", "api_key", "key_id"),
    ),
    ApiRoute(
        KEYS + "/{key_id}",
        revoke_key,
        methods=["DELETE"],
        scope=ADMIN,
        audit=Audited("api_key.revoked", "api_key", "key_id"),
    ),
]
