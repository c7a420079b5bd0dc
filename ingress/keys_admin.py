"""The platform operator's API-key routes, ``/v1/admin/tenants/{tenant_id}/keys…``: issue,
list, rotate and revoke a tenant's keys.

A key's plaintext is in the answer to ``issue`` and ``rotate`` only; it is stored as a hash and
never shown, logged or listed again. A revoked key is refused from the next request on: the
ingress checks keys against MongoDB on every request (the Security Hub caches its answers for
``PARLEY_SECURITY_HUB_CACHE_SECONDS``), so no restart is needed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.errors import NotFound
from core.scopes import ADMIN, TENANT_SCOPES
from core.timeutil import isoformat
from ingress.body import read_json, validate
from ingress.routing import ApiRoute
from ingress.state import IngressState
from storage.credentials import KeyDocument

TenantScope = Literal[
    "messages:write",
    "messages:read",
    "conversations:read",
    "channels:manage",
    "deadletters:read",
    "deadletters:manage",
]


class ApiKeyIn(BaseModel):
    """``POST /v1/admin/tenants/{tenant_id}/keys``: a tenant key holds tenant scopes only."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=100)
    scopes: list[TenantScope] = Field(min_length=1, max_length=len(TENANT_SCOPES))


def key_view(doc: KeyDocument) -> dict[str, Any]:
    """A key as the API and the CLI show it: never its secret or its hash."""
    view: dict[str, Any] = {
        "id": doc["_id"],
        "tenant_id": doc["tenant_id"],
        "name": doc["name"],
        "scopes": doc["scopes"],
        "state": doc["state"],
        "created_at": isoformat(doc["created_at"]),
    }
    if "revoked_at" in doc:
        view["revoked_at"] = isoformat(doc["revoked_at"])
    for link in ("rotated_from", "replaced_by"):
        if link in doc:
            view[link] = doc[link]
    return view


def _state(request: Request) -> IngressState:
    state: IngressState = request.state.parley
    return state


def _issued(doc: KeyDocument, plaintext: str) -> JSONResponse:
    return JSONResponse(
        {**key_view(doc), "key": plaintext},
        status_code=201,
        headers={"Cache-Control": "no-store"},  # the only time the key is shown
    )


async def issue_key(request: Request) -> JSONResponse:
    state = _state(request)
    tenant_id = request.path_params["tenant_id"]
    payload = validate(ApiKeyIn, await read_json(request, state.settings))

    def issue() -> tuple[KeyDocument, str]:
        state.tenant_records.require(tenant_id)
        return state.keys.issue(tenant_id, payload.name, list(payload.scopes))

    return _issued(*await run_in_threadpool(issue))


async def list_keys(request: Request) -> JSONResponse:
    state = _state(request)
    tenant_id = request.path_params["tenant_id"]

    def load() -> list[KeyDocument]:
        state.tenant_records.require(tenant_id)
        return state.keys.list(tenant_id)

    return JSONResponse({"data": [key_view(doc) for doc in await run_in_threadpool(load)]})


async def rotate_key(request: Request) -> JSONResponse:
    state = _state(request)
    params = request.path_params
    doc, plaintext = await run_in_threadpool(
        state.keys.rotate, params["tenant_id"], params["key_id"]
    )
    return _issued(doc, plaintext)


async def revoke_key(request: Request) -> Response:
    state = _state(request)
    tenant_id, key_id = request.path_params["tenant_id"], request.path_params["key_id"]
    if not await run_in_threadpool(state.keys.revoke, tenant_id, key_id):
        raise NotFound(f"api key {key_id} not found")
    return Response(status_code=204)


KEYS = "/v1/admin/tenants/{tenant_id}/keys"
routes = [
    ApiRoute(KEYS, issue_key, methods=["POST"], scope=ADMIN),
    ApiRoute(KEYS, list_keys, methods=["GET"], scope=ADMIN),
    ApiRoute(KEYS + "/{key_id}/rotate", rotate_key, methods=["POST"], scope=ADMIN),
    ApiRoute(KEYS + "/{key_id}", revoke_key, methods=["DELETE"], scope=ADMIN),
]
