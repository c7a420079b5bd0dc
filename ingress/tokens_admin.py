"""The platform operator's JWT revocation route: ``POST
/v1/admin/tenants/{tenant_id}/revoked-tokens`` refuses one token (by its ``jti``) from the next
request on, until it would have expired anyway. Tokens without a ``jti`` cannot be revoked one
by one (rotate the signing secret or key instead); ``parley token`` gives every token a ``jti``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from core.scopes import ADMIN
from ingress.admin_actions import Audited, note
from ingress.body import read_json, validate
from ingress.operations import INVALID, MALFORMED, TOO_LARGE, Answer, Operation, documented
from ingress.routing import ApiRoute
from ingress.state import IngressState
from ingress.tenants_admin import TENANT_ID


class TokenRevocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    jti: str = Field(min_length=1, max_length=128, description="the token's `jti` claim")
    expires_at: int = Field(
        ge=0, le=2**40, description="the token's `exp` claim: how long to keep refusing it"
    )


@documented(
    Operation(
        "revokeToken",
        "Refuse a tenant's JWT (by `jti`) until it expires",
        "admin",
        (Answer(204, "Revoked: refused from the next request on."),),
        {400: MALFORMED, 413: TOO_LARGE, 422: INVALID},
        params=(TENANT_ID,),
        body=TokenRevocationIn,
    )
)
async def revoke_token(request: Request) -> Response:
    state: IngressState = request.state.parley
    payload = validate(TokenRevocationIn, await read_json(request, state.settings))
    note(request, target_id=payload.jti)  # a token's id, not the token
    await run_in_threadpool(
        state.revoked_tokens.revoke,
        request.path_params["tenant_id"],
        payload.jti,
        payload.expires_at,
    )
    return Response(status_code=204)


routes = [
    ApiRoute(
        "/v1/admin/tenants/{tenant_id}/revoked-tokens",
        revoke_token,
        methods=["POST"],
        scope=ADMIN,
        audit=Audited("token.revoked", "token"),
    ),
]
