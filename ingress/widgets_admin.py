"""Widget config routes, ``/v1/admin/widgets…``: a tenant's web chat on its sites.

The identity secret goes in and never comes out: answers say only ``identity_verification``.
Origins are exact (``scheme://host[:port]``, as a browser's ``Origin`` header spells them);
plain http only for localhost and 127.0.0.1, unless ``PARLEY_WIDGET_ALLOW_HTTP`` (development).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from core.scopes import CHANNELS_MANAGE
from ingress.admin_actions import Audited
from ingress.api_models import WidgetPage, WidgetView, created, json_of
from ingress.auth import principal_of
from ingress.body import read_json, validate
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
from ingress.pagination import cut_page, page_request
from ingress.routing import ApiRoute
from ingress.state import IngressState
from storage.widgets import ID_PREFIX, UPLOAD_MAX_BYTES, UPLOAD_TYPES

MiB = 1024 * 1024
_LOCAL_HOSTS = ("localhost", "127.0.0.1")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _plain_http_allowed(host: str, info: ValidationInfo) -> bool:
    return host in _LOCAL_HOSTS or bool((info.context or {}).get("allow_http"))


def web_origin(value: str, info: ValidationInfo) -> str:
    """``value`` as a browser's ``Origin`` header spells it (lower case, no default port)."""
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    host = parts.hostname or ""
    if (
        parts.scheme not in _DEFAULT_PORTS
        or not host
        or parts.username is not None
        or parts.password is not None
        or parts.path
        or parts.query
        or parts.fragment
        or value != f"{parts.scheme}://{parts.netloc}"
    ):
        raise ValueError(f"{value!r} is not an origin: scheme://host[:port], nothing more")
    if parts.scheme == "http" and not _plain_http_allowed(host, info):
        raise ValueError(f"{value!r}: plain http only for localhost and 127.0.0.1")
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}" + (
        f":{port}" if port is not None and port != _DEFAULT_PORTS[parts.scheme] else ""
    )


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ThemeIn(_In):
    title: str = Field(default="Chat", min_length=1, max_length=80)
    primary_color: str = Field(default="#2563eb", pattern=r"^#[0-9a-fA-F]{6}$")
    avatar_url: str | None = Field(default=None, min_length=1, max_length=2048)
    locale: Literal["en", "de"] = "en"

    @field_validator("avatar_url")
    @classmethod
    def _web_address(cls, url: str | None, info: ValidationInfo) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        secure = parts.scheme == "https"
        if not parts.hostname or not (
            secure or (parts.scheme == "http" and _plain_http_allowed(parts.hostname, info))
        ):
            raise ValueError("avatar_url must be an https URL")
        return url


class UploadIn(_In):
    max_bytes: int = Field(default=UPLOAD_MAX_BYTES, ge=1, le=10 * MiB)
    types: list[str] = Field(default_factory=lambda: list(UPLOAD_TYPES), min_length=1)

    @field_validator("types")
    @classmethod
    def _allowed(cls, types: list[str]) -> list[str]:
        unknown = sorted(set(types) - set(UPLOAD_TYPES))
        if unknown:
            raise ValueError(f"types must be among {list(UPLOAD_TYPES)}; not {unknown}")
        return list(dict.fromkeys(types))


Origins = list[str]


class _WidgetFields(_In):
    @field_validator("allowed_origins", check_fields=False)
    @classmethod
    def _origins(cls, origins: Origins | None, info: ValidationInfo) -> Origins | None:
        if origins is None:
            return None
        return list(dict.fromkeys(web_origin(origin, info) for origin in origins))


class WidgetIn(_WidgetFields):
    """``POST /v1/admin/widgets``."""

    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    allowed_origins: Origins = Field(min_length=1, max_length=50)
    theme: ThemeIn = Field(default_factory=ThemeIn)
    greeting: str = Field(default="", max_length=1000)
    upload: UploadIn = Field(default_factory=UploadIn)
    identity_secret: str | None = Field(
        default=None, min_length=16, max_length=256, description="write-only"
    )


class WidgetPatch(_WidgetFields):
    """``PATCH /v1/admin/widgets/{widget_id}``: only the fields given change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None
    allowed_origins: Origins | None = Field(default=None, min_length=1, max_length=50)
    theme: ThemeIn | None = None
    greeting: str | None = Field(default=None, max_length=1000)
    upload: UploadIn | None = None
    identity_secret: str | None = Field(
        default=None, min_length=16, max_length=256, description="null switches it off"
    )

    @model_validator(mode="after")
    def _null_only_clears_the_secret(self) -> WidgetPatch:
        nulled = sorted(f for f in self.model_fields_set if getattr(self, f) is None)
        if [f for f in nulled if f != "identity_secret"]:
            raise ValueError(f"{', '.join(nulled)} cannot be null")
        return self


def _context(state: IngressState) -> dict[str, Any]:
    return {"allow_http": state.settings.widget_allow_http}


def _stored(payload: WidgetIn) -> dict[str, Any]:
    fields = payload.model_dump(exclude={"identity_secret"})
    fields["theme"] = payload.theme.model_dump(exclude_none=True)
    return fields


def _merged(payload: WidgetPatch, current: dict[str, Any]) -> dict[str, Any]:
    """The patch's fields as stored: a group (``theme``, ``upload``) given changes only the
    members given, and ``avatar_url: null`` removes the avatar."""
    fields = payload.model_dump(exclude_unset=True, exclude={"identity_secret"})
    for group in ("theme", "upload"):
        if group in fields:
            merged = {**current.get(group, {}), **fields[group]}
            fields[group] = {k: v for k, v in merged.items() if v is not None}
    return fields


WIDGET_ID = Param("widget_id", "path", "The widget's id (`wgt_…`).")
NO_WIDGET = "`not-found`: no such widget for this tenant."
BODY = (
    "`allowed_origins`: exact origins (`https://shop.example`, scheme, host and port only; "
    "plain http for localhost and 127.0.0.1 only unless `PARLEY_WIDGET_ALLOW_HTTP`). "
    "`theme.primary_color` is `#rrggbb`, `theme.avatar_url` https, `theme.locale` `en` or "
    "`de`; `upload.max_bytes` at most 10 MiB (5 MiB by default), `upload.types` among "
    f"{', '.join(UPLOAD_TYPES)} (all by default). `identity_secret` (16 to 256 characters) is "
    "write-only: the tenant's backend signs user ids with it."
)


def _state(request: Request) -> IngressState:
    state: IngressState = request.state.parley
    return state


@documented(
    Operation(
        "createWidget",
        "Create a web chat widget",
        "widgets",
        (
            Answer(
                201,
                "Created; the identity secret is never shown.",
                WidgetView,
                headers={"Location": "`/v1/admin/widgets/{id}`"},
            ),
        ),
        {400: MALFORMED, 413: TOO_LARGE, 422: INVALID},
        body=WidgetIn,
        body_description=BODY,
    )
)
async def create_widget(request: Request) -> JSONResponse:
    state = _state(request)
    tenant_id = principal_of(request).tenant_id
    payload = validate(WidgetIn, await read_json(request, state.settings), _context(state))
    doc = await run_in_threadpool(
        state.widgets.create, tenant_id, _stored(payload), payload.identity_secret
    )
    view = WidgetView.of(doc)
    return created(view, f"/v1/admin/widgets/{view.id}")


@documented(
    Operation(
        "listWidgets",
        "The tenant's widgets, in id order",
        "widgets",
        (Answer(200, "One page of widgets.", WidgetPage),),
        {400: PAGE},
        params=(LIMIT, CURSOR),
    )
)
async def list_widgets(request: Request) -> JSONResponse:
    state = _state(request)
    limit, after = page_request(request, state.settings.page_size_max, f"{ID_PREFIX}_")
    fetched = await run_in_threadpool(
        state.widgets.list, principal_of(request).tenant_id, after, limit + 1
    )
    page, next_cursor = cut_page(fetched, limit)
    answer = WidgetPage(data=[WidgetView.of(doc) for doc in page], next_cursor=next_cursor)
    return JSONResponse(json_of(answer))


@documented(
    Operation(
        "getWidget",
        "One widget",
        "widgets",
        (Answer(200, "The widget.", WidgetView),),
        {404: NO_WIDGET},
        params=(WIDGET_ID,),
    )
)
async def get_widget(request: Request) -> JSONResponse:
    state = _state(request)
    doc = await run_in_threadpool(
        state.widgets.get, principal_of(request).tenant_id, request.path_params["widget_id"]
    )
    return JSONResponse(json_of(WidgetView.of(doc)))


@documented(
    Operation(
        "updateWidget",
        "Change a widget",
        "widgets",
        (Answer(200, "The widget as it is now.", WidgetView),),
        {400: MALFORMED, 404: NO_WIDGET, 413: TOO_LARGE, 422: INVALID},
        params=(WIDGET_ID,),
        body=WidgetPatch,
        body_description="Only the fields given change; in `theme` and `upload`, only the "
        "members given (`avatar_url: null` removes the avatar). `identity_secret: null` "
        "switches identity verification off. `enabled: false` refuses new sessions and every "
        "visitor request at once. " + BODY,
    )
)
async def update_widget(request: Request) -> JSONResponse:
    state = _state(request)
    tenant_id = principal_of(request).tenant_id
    widget_id = request.path_params["widget_id"]
    payload = validate(WidgetPatch, await read_json(request, state.settings), _context(state))

    def update() -> dict[str, Any]:
        current = state.widgets.get(tenant_id, widget_id)
        return state.widgets.update(
            tenant_id,
            widget_id,
            _merged(payload, current),
            payload.identity_secret,
            remove_identity_secret="identity_secret" in payload.model_fields_set,
        )

    doc = await run_in_threadpool(update)
    return JSONResponse(json_of(WidgetView.of(doc)))


WIDGET = "/v1/admin/widgets/{widget_id}"
routes = [
    ApiRoute(
        "/v1/admin/widgets",
        create_widget,
        methods=["POST"],
        scope=CHANNELS_MANAGE,
        audit=Audited("widget.created", "widget", detail=("name",), fields=True),
    ),
    ApiRoute("/v1/admin/widgets", list_widgets, methods=["GET"], scope=CHANNELS_MANAGE),
    ApiRoute(WIDGET, get_widget, methods=["GET"], scope=CHANNELS_MANAGE),
    ApiRoute(
        WIDGET,
        update_widget,
        methods=["PATCH"],
        scope=CHANNELS_MANAGE,
        audit=Audited("widget.updated", "widget", "widget_id", fields=True),
    ),
]
