"""``POST /v1/widget/{widget_id}/sessions``: a browser on an allowed origin becomes a visitor.

No credential: the ``Origin`` header is the gate (403 ``origin-not-allowed``, no CORS headers,
when it is missing or not the widget's). The body says who the visitor is (all optional): no
one yet (a new ``v_…`` id and its ``visitor_key``), a returning anonymous visitor (its id and
key, 401 ``visitor-key-invalid`` when they do not match), or a user the tenant's backend signed
(``user_id`` and ``user_hash``, 401 ``identity-invalid``). Sessions spend a token of the
widget's rate limit and of the visitor's (an address's, for a new visitor).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from core.errors import NotFound
from core.ids import new_id
from core.visitor_keys import anonymous_key, anonymous_key_matches, user_hash_matches
from core.visitor_tokens import mint_visitor_token
from ingress import rate_limit
from ingress.api_models import PublicWidget, VisitorSession, json_of
from ingress.body import parse_json, read_limited, validate
from ingress.client_address import client_address
from ingress.operations import INVALID, MALFORMED, TOO_LARGE, Answer, Operation, Param, documented
from ingress.problems import Problem
from ingress.state import IngressState
from ingress.visitor_auth import require_serving
from ingress.widget_cors import WidgetRoute, allows, cors_headers, origin_not_allowed
from storage.widgets import WidgetDocument

VISITOR_ID_PATTERN = r"^v_[0-9a-f]{32}$"


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    visitor_id: str | None = Field(default=None, pattern=VISITOR_ID_PATTERN)
    visitor_key: str | None = Field(default=None, min_length=1, max_length=128)
    user_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$"
    )
    user_hash: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_kind_of_visitor(self) -> SessionIn:
        returning = (self.visitor_id, self.visitor_key)
        signed = (self.user_id, self.user_hash)
        if any(returning) and not all(returning):
            raise ValueError("visitor_id and visitor_key go together")
        if any(signed) and not all(signed):
            raise ValueError("user_id and user_hash go together")
        if any(returning) and any(signed):
            raise ValueError("either visitor_id and visitor_key, or user_id and user_hash")
        return self


def _identify(state: IngressState, widget: WidgetDocument, payload: SessionIn) -> tuple[str, str]:
    """(visitor id, visitor key or "" for a signed user), or the 401 / 422 to answer."""
    secret = state.settings.require_jwt_secret()
    if payload.user_id is not None and payload.user_hash is not None:
        identity_secret = state.widgets.identity_secret(widget)
        if identity_secret is None:
            raise Problem(
                422,
                "identity-verification-off",
                "Identity verification is off",
                "this widget has no identity secret: leave out user_id and user_hash",
            )
        if not user_hash_matches(identity_secret, payload.user_id, payload.user_hash):
            raise Problem(401, "identity-invalid", "Unauthorized", "user_hash does not match")
        return f"user:{payload.user_id}", ""
    if payload.visitor_id is not None and payload.visitor_key is not None:
        if not anonymous_key_matches(
            secret, widget["_id"], payload.visitor_id, payload.visitor_key
        ):
            raise Problem(
                401, "visitor-key-invalid", "Unauthorized", "visitor_key does not match visitor_id"
            )
        return payload.visitor_id, payload.visitor_key
    visitor_id = new_id("v")
    return visitor_id, anonymous_key(secret, widget["_id"], visitor_id)


def _open(
    state: IngressState, widget: WidgetDocument, payload: SessionIn, source: str
) -> dict[str, Any]:
    require_serving(state, widget)
    settings = state.settings
    claimed = payload.visitor_id or (f"user:{payload.user_id}" if payload.user_id else "")
    who = (widget["tenant_id"], widget["_id"], claimed)
    visitor = (
        rate_limit.visitor_bucket(state.limiter, settings, *who)
        if who[2]
        else rate_limit.visitor_bucket(state.limiter, settings, "address", source)
    )
    verdict = state.limiter.take(
        [rate_limit.widget_bucket(state.limiter, settings, who[1]), visitor]
    )
    if not verdict.allowed:
        raise rate_limit.too_many(
            verdict, f"the {verdict.bucket}'s session rate limit is exhausted"
        )
    visitor_id, key = _identify(state, widget, payload)
    token, expires_at = mint_visitor_token(
        settings.require_jwt_secret(),
        widget["tenant_id"],
        widget["_id"],
        visitor_id,
        settings.visitor_token_seconds,
    )
    return {
        "token": token,
        "expires_at": expires_at,
        "visitor_id": visitor_id,
        "visitor_key": key or None,
        "widget": PublicWidget.model_validate(widget),
    }


@documented(
    Operation(
        "createVisitorSession",
        "Open a visitor session on a widget",
        "widget",
        (Answer(201, "The visitor token and the widget to draw.", VisitorSession),),
        {
            400: MALFORMED,
            401: "`visitor-key-invalid`: `visitor_key` is not `visitor_id`'s; "
            "`identity-invalid`: `user_hash` is not `user_id`'s.",
            403: "`origin-not-allowed`: `Origin` is missing or not one of the widget's "
            "`allowed_origins` (no CORS headers); `widget-disabled`, `tenant-disabled`.",
            404: "`not-found`: no such widget.",
            413: TOO_LARGE,
            422: INVALID + " `identity-verification-off`: a `user_id` on a widget without "
            "an identity secret.",
            429: "`rate-limited`: the widget's or the visitor's session rate limit; retry after "
            "`Retry-After` seconds.",
        },
        params=(
            Param("widget_id", "path", "The widget's public id (`wgt_…`)."),
            Param("Origin", "header", "The page's origin; it must be one the widget allows."),
        ),
        body=SessionIn,
        body_description="Every field optional: `{}` for a new anonymous visitor; "
        "`visitor_id` and `visitor_key` (the first answer's) for a returning one; `user_id` "
        "and `user_hash` (hex HMAC-SHA256 of `user_id` under the widget's identity secret) "
        "for a user the tenant's backend vouches for, who becomes `user:<user_id>`. An empty "
        "body is `{}`. Post the same body again to renew the token.",
        authenticated=False,
    )
)
async def create_session(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    widget_id = request.path_params["widget_id"]
    origin = request.headers.get("origin")
    widget = await run_in_threadpool(state.widgets.find, widget_id)
    if widget is None:
        raise NotFound(f"widget {widget_id} not found")
    if not allows(widget, origin):
        raise origin_not_allowed(origin)
    assert origin is not None  # allows() said so
    request.state.answer_headers = cors_headers(origin)  # every answer from here, errors too
    raw = await read_limited(request, state.settings.max_body_bytes)
    data = parse_json(raw, state.settings.max_json_depth) if raw.strip() else {}
    payload = validate(SessionIn, data)
    source = client_address(request)
    answer = await run_in_threadpool(_open, state, widget, payload, source)
    return JSONResponse(
        json_of(VisitorSession.model_validate(answer)),
        status_code=201,
        headers=request.state.answer_headers,
    )


routes = [WidgetRoute("/v1/widget/{widget_id}/sessions", create_session, methods=["POST"])]
