"""Channel configuration routes: a tenant connects its provider accounts here.

Secrets go in once and never come out: every answer lists only which secrets are set. An
account is stored only once its provider has accepted the credentials as the account's
(``channels.accounts``): 422 ``account-not-proven`` or 502 ``provider-unavailable`` otherwise.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from channels.accounts import (
    ACCOUNTS,
    AccountCheckFailed,
    AccountNotProven,
    account_id_for,
    prove_account,
)
from channels.registry import SPECS
from channels.runtime import ChannelRuntime
from core.scopes import CHANNELS_MANAGE
from core.templates import BUSINESS_ACCOUNT_OPTION, is_business_account_id
from ingress import messenger_profiles
from ingress.admin_actions import Audited
from ingress.api_models import ChannelConfigList, ChannelConfigView, created, json_of
from ingress.auth import principal_of
from ingress.body import read_json, validate
from ingress.messenger_profiles import MessengerProfileIn
from ingress.operations import (
    INVALID,
    MALFORMED,
    TOO_LARGE,
    Answer,
    Operation,
    Param,
    documented,
)
from ingress.problems import Problem
from ingress.routing import ApiRoute
from ingress.state import IngressState

Secret = str


class ChannelConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    channel: str = Field(min_length=1, max_length=32)
    account_id: str = Field(min_length=1, max_length=128)
    secrets: dict[str, Secret] = Field(max_length=16)
    options: dict[str, str] = Field(default_factory=dict, max_length=16)
    messenger_profile: MessengerProfileIn | None = None

    @field_validator("account_id")
    @classmethod
    def _has_the_channel_shape(cls, account_id: str, info: ValidationInfo) -> str:
        channel = info.data.get("channel")  # absent when the channel itself was refused
        return account_id_for(channel, account_id) if channel in ACCOUNTS else account_id

    @model_validator(mode="after")
    def _matches_the_channel(self) -> ChannelConfigIn:
        spec = SPECS.get(self.channel)
        if spec is None:
            raise ValueError(f"channel must be one of {sorted(SPECS)}")
        missing = [name for name in spec.secrets if not self.secrets.get(name)]
        unknown = sorted(set(self.secrets) - set(spec.secrets))
        if missing or unknown:
            raise ValueError(
                f"{self.channel} needs secrets {list(spec.secrets)}"
                + (f"; missing {missing}" if missing else "")
                + (f"; unknown {unknown}" if unknown else "")
            )
        extra = sorted(set(self.options) - set(spec.options))
        if extra:
            raise ValueError(f"{self.channel} options are {list(spec.options)}; unknown {extra}")
        waba = self.options.get(BUSINESS_ACCOUNT_OPTION)
        if waba is not None and not is_business_account_id(waba):
            raise ValueError(f"{BUSINESS_ACCOUNT_OPTION} must be digits, at most 32")
        if any(len(v) > 4096 for v in self.secrets.values()):
            raise ValueError("a secret is longer than 4096 characters")
        if self.messenger_profile is not None and self.channel != "messenger":
            raise ValueError(NOT_MESSENGER)
        return self


NOT_MESSENGER = "only a messenger channel has a messenger_profile"


class ChannelConfigPatch(BaseModel):
    """What may change on a connected channel; the secrets may not (they were proven)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    messenger_profile: MessengerProfileIn | None = Field(
        description="the page's Get Started, greeting and persistent menu; null clears them"
    )


# Creating a channel config: the body's rules, and the provider's proof of the account.
CONNECT_BODY = (
    "`account_id` has the channel's shape (whatsapp `phone_number_id`, messenger page id: "
    "digits, at most 32; slack team id: `T` and upper-case letters or digits, at most 32; "
    "teams: the bot's app id, a GUID). `secrets` must hold exactly the channel's secrets "
    "(whatsapp: access_token, app_secret, verify_token; messenger: page_token, app_secret, "
    "verify_token; slack: bot_token, signing_secret; teams: app_password), each at most 4096 "
    "characters; `options` only the channel's options (whatsapp `business_account_id`, the "
    "WABA whose templates are synced: digits, at most 32). Before anything is stored the provider "
    "is asked, with these secrets, whether they are the account's: whatsapp Graph "
    "`GET /{phone_number_id}` (its `id` must match), messenger Graph `GET /me` with the page "
    "token (the page it names must be `account_id`), slack `auth.test` (its `team_id` must "
    "match), teams a Bot Framework token for the app id and password. A messenger channel may "
    "carry a `messenger_profile` (`get_started`, `greeting`, `persistent_menu`, within Meta's "
    "limits), applied to the page once the account is stored; the outcome is the answer's "
    "`profile` (`applied`, or `failed` with the error: the channel is stored either way)."
)
CONNECT_ERRORS = {
    400: MALFORMED,
    409: "`conflict`: this provider account is registered already.",
    413: TOO_LARGE,
    422: INVALID + " `account-not-proven`: the provider refused the secrets, or they are "
    "another account's; `check` names the call (`graph-phone-number`, `graph-page-token`, "
    "`slack-auth-test`, `bot-framework-token`). Nothing was stored.",
    502: "`provider-unavailable`: the provider could not be asked (unreachable, timed out, "
    "5xx or throttled); `check` names the call. Nothing was stored; retry later.",
}


def require_proof(payload: ChannelConfigIn, runtime: ChannelRuntime) -> None:
    """The provider's word that the credentials are the account's, or the problem to answer."""
    try:
        prove_account(
            payload.channel, payload.account_id, payload.secrets, payload.options, runtime
        )
    except AccountNotProven as exc:
        raise Problem(
            422,
            "account-not-proven",
            "Account not proven",
            f"{exc}; nothing was stored",
            check=exc.check,
        ) from None
    except AccountCheckFailed as exc:
        raise Problem(
            502,
            "provider-unavailable",
            "Provider unavailable",
            f"{exc}; nothing was stored",
            check=exc.check,
        ) from None


@documented(
    Operation(
        "createChannelConfig",
        "Connect a provider account",
        "channels",
        (
            Answer(
                201,
                "Created; the answer lists which secrets are set, never their values.",
                ChannelConfigView,
                headers={"Location": "`/v1/admin/channels/{id}`"},
            ),
        ),
        CONNECT_ERRORS,
        body=ChannelConfigIn,
        body_description=CONNECT_BODY,
    )
)
async def create_channel(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    principal = principal_of(request)
    payload = validate(ChannelConfigIn, await read_json(request, state.settings))

    profile = payload.messenger_profile.wire() if payload.messenger_profile else None

    def connect() -> dict[str, Any]:
        require_proof(payload, state.channels)
        doc = state.channel_configs.create(
            principal.tenant_id,
            payload.channel,
            payload.account_id,
            payload.secrets,
            payload.options,
            profile,
        )
        if profile is None:
            return doc
        opened = state.channel_configs.for_delivery(principal.tenant_id, doc["_id"])
        outcome = messenger_profiles.apply(profile, opened, state.channels)
        return state.channel_configs.note_profile(principal.tenant_id, doc["_id"], outcome)

    doc = await run_in_threadpool(connect)
    view = ChannelConfigView.of(doc, state.settings.public_base_url)
    return created(view, f"/v1/admin/channels/{view.id}")


@documented(
    Operation(
        "listChannelConfigs",
        "The tenant's channel configs",
        "channels",
        (Answer(200, "Every channel config of the tenant.", ChannelConfigList),),
        {},
    )
)
async def list_channels(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    principal = principal_of(request)
    docs: list[dict[str, Any]] = await run_in_threadpool(
        state.channel_configs.list, principal.tenant_id
    )
    base = state.settings.public_base_url
    answer = ChannelConfigList(data=[ChannelConfigView.of(doc, base) for doc in docs])
    return JSONResponse(json_of(answer))


@documented(
    Operation(
        "getChannelConfig",
        "One channel config",
        "channels",
        (Answer(200, "The channel config.", ChannelConfigView),),
        {404: "`not-found`: no such channel config for this tenant."},
        params=(Param("config_id", "path", "The channel config's id (`chc_…`)."),),
    )
)
async def get_channel(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    principal = principal_of(request)
    doc = await run_in_threadpool(
        state.channel_configs.get, principal.tenant_id, request.path_params["config_id"]
    )
    return JSONResponse(json_of(ChannelConfigView.of(doc, state.settings.public_base_url)))


@documented(
    Operation(
        "updateChannelConfig",
        "Change a connected channel: a Messenger page's profile",
        "channels",
        (Answer(200, "Saved; `profile` tells whether the page took it.", ChannelConfigView),),
        {
            400: MALFORMED,
            404: "`not-found`: no such channel config for this tenant.",
            413: TOO_LARGE,
            422: INVALID + " A `messenger_profile` on another channel than messenger.",
        },
        params=(Param("config_id", "path", "The channel config's id (`chc_…`)."),),
        body=ChannelConfigPatch,
        body_description=(
            "`messenger_profile` is saved, then applied to the page through Graph's Messenger "
            "Profile API (one call within `PARLEY_CHANNEL_SEND_TIMEOUT_SECONDS`; a property left "
            "out is cleared from the page). A refused or unreachable Graph leaves the profile "
            "saved and the answer's `profile` `failed` with the error; saving again retries."
        ),
    )
)
async def update_channel(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    principal = principal_of(request)
    payload = validate(ChannelConfigPatch, await read_json(request, state.settings))
    config_id = request.path_params["config_id"]
    profile = payload.messenger_profile.wire() if payload.messenger_profile else None

    def change() -> dict[str, Any]:
        doc = state.channel_configs.get(principal.tenant_id, config_id)
        if doc["channel"] != "messenger":
            raise Problem(422, "invalid", "Invalid request", NOT_MESSENGER)
        state.channel_configs.save_profile(principal.tenant_id, config_id, profile)
        opened = state.channel_configs.for_delivery(principal.tenant_id, config_id)
        outcome = messenger_profiles.apply(profile or {}, opened, state.channels)
        return state.channel_configs.note_profile(principal.tenant_id, config_id, outcome)

    doc = await run_in_threadpool(change)
    return JSONResponse(json_of(ChannelConfigView.of(doc, state.settings.public_base_url)))


routes = [
    ApiRoute(
        "/v1/admin/channels",
        create_channel,
        methods=["POST"],
        scope=CHANNELS_MANAGE,
        audit=Audited("channel.created", "channel_config", detail=("channel", "account_id")),
    ),
    ApiRoute("/v1/admin/channels", list_channels, methods=["GET"], scope=CHANNELS_MANAGE),
    ApiRoute("/v1/admin/channels/{config_id}", get_channel, methods=["GET"], scope=CHANNELS_MANAGE),
    ApiRoute(
        "/v1/admin/channels/{config_id}",
        update_channel,
        methods=["PATCH"],
        scope=CHANNELS_MANAGE,
        audit=Audited("channel.updated", "channel_config", id_param="config_id"),
    ),
]
