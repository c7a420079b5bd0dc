"""OpenAPI 3.1 for the ingress, generated from the app's route table and the pydantic models.

``build_document`` walks ``app.routes``. What a route's code cannot tell (summary, the query
parameters it reads, the errors it can answer) is written once in ``OPERATIONS``, keyed by the
endpoint function; paths and path parameters come from the route, and every schema from a
pydantic model (``ingress.schemas``, ``ingress.channels_admin``, ``ingress.api_models``) via
``models_json_schema``, its ``$defs`` becoming ``components.schemas``. A route missing from
``OPERATIONS`` is an error, not a gap in the document. ``GET /openapi.json`` serves it.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.convertors import Convertor, FloatConvertor, IntegerConvertor, UUIDConvertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from channels.registry import SPECS
from ingress import api_models as api
from ingress import (
    channels_admin,
    conversations,
    dead_letters,
    health,
    keys_admin,
    messages,
    tenants_admin,
    tokens_admin,
    webhooks,
)
from ingress.routing import ApiRoute
from ingress.schemas import Accepted, MessageIn
from ingress.state import IngressState
from storage.dead_letters import CLASSIFICATIONS, OPEN, STAGES, STATES

JSON = dict[str, Any]
REF_TEMPLATE = "#/components/schemas/{model}"
PROBLEM_JSON = "application/problem+json"
BEARER = "bearerAuth"
API_KEY = "apiKeyAuth"
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": "the burst of the most constrained bucket (tenant or credential)",
    "RateLimit-Remaining": "requests left in that bucket now",
    "RateLimit-Reset": "seconds until that bucket is full again",
}
# What the guard of every credentialed route can answer (``ingress.routing``).
GUARD_ERRORS = {
    401: "`unauthorized`: no credential, or one that is expired, not yet valid, for another "
    "audience or issuer, badly signed, unknown or revoked.",
    403: "`insufficient-scope`: the credential lacks the route's scope; `tenant-disabled`: "
    "the tenant is switched off.",
    429: "`rate-limited`: the tenant's or the credential's rate limit, or too many failed "
    "authentications from this address or with this credential (one that verifies is still "
    "accepted); retry after `Retry-After` seconds.",
    503: "`security-hub-unavailable` or `unavailable`: credentials or rate limits cannot be "
    "checked now (the ingress fails closed).",
}


class UndescribedRoute(LookupError):
    """A route of the app has no entry in ``OPERATIONS`` (or one that no longer fits it)."""


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    description: str
    schema: JSON = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """A response that is not a plain problem: a model's JSON, or ``schema`` as ``media_type``."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    schema: JSON | None = None
    media_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    operation_id: str
    summary: str
    tag: str
    answers: tuple[Answer, ...]
    errors: Mapping[int, str] = field(default_factory=dict)  # status → the problem types
    params: tuple[Param, ...] = ()
    body: type[BaseModel] | Mapping[str, JSON] | None = None  # a model, or media type → schema
    body_description: str | None = None
    authenticated: bool = True
    description: str | None = None

    def models(self) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
        wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [
            (a.model, "serialization") for a in self.answers if a.model
        ]
        if isinstance(self.body, type):
            wanted.append((self.body, "validation"))
        return wanted


def build_document(routes: Iterable[BaseRoute], public_base_url: str) -> JSON:
    """The OpenAPI 3.1 document for ``routes``; raises ``UndescribedRoute`` for a route that
    ``OPERATIONS`` does not describe."""
    found = [(route, _operation(route)) for route in _http_routes(routes)]
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(api.Problem, "serialization")]
    wanted += [model for _, op in found for model in op.models()]
    refs, definitions = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF_TEMPLATE)
    paths: dict[str, JSON] = {}
    for route, op in found:
        item, method = paths.setdefault(route.path_format, {}), _method(route).lower()
        if method in item:
            raise UndescribedRoute(f"{method.upper()} {route.path} is routed twice")
        item[method] = _render(route, op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Parley",
            "version": importlib.metadata.version("parley"),
            "summary": "Multi-tenant chatbot message platform: the HTTP ingress.",
            "description": "Errors are RFC 9457 problem details (`application/problem+json`).",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": public_base_url.rstrip("/") or "/"}],
        "tags": [{"name": tag} for tag in dict.fromkeys(op.tag for _, op in found)],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT (HS256 with Parley's secret, or RS256/ES256 from the "
                    "configured JWKS) with claims `tenant`, `sub`, `exp`, optionally `nbf`, "
                    "`scope` (space-separated; absent means every tenant scope) and the "
                    "configured `iss`/`aud`. The tenant comes from the token, never from the "
                    "request.",
                },
                API_KEY: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "pk_<key id>_<secret>",
                    "description": "A tenant API key issued by the admin API; its scopes are "
                    "the ones it was issued with.",
                },
            },
        },
    }


def _http_routes(routes: Iterable[BaseRoute]) -> list[Route]:
    found: list[Route] = []
    for route in routes:
        if isinstance(route, Route):
            found.append(route)
        elif not isinstance(route, WebSocketRoute):  # OpenAPI describes HTTP only
            raise UndescribedRoute(f"cannot describe {route!r}: only Route is supported")
    return found


def _method(route: Route) -> str:
    methods = sorted(set(route.methods or ()) - {"HEAD"})  # Starlette adds HEAD to every GET
    if len(methods) != 1:
        raise UndescribedRoute(f"{route.path} has methods {methods}; give each its own Route")
    return methods[0]


def _operation(route: Route) -> Operation:
    op = OPERATIONS.get(route.endpoint)
    if op is None:
        raise UndescribedRoute(
            f"{_method(route)} {route.path} ({route.endpoint.__qualname__}) has no entry in "
            "ingress.openapi.OPERATIONS"
        )
    if op.authenticated != (route_scope(route) is not None):
        raise UndescribedRoute(
            f"{_method(route)} {route.path}: documented as "
            f"{'authenticated' if op.authenticated else 'open'}, routed otherwise"
        )
    described = {p.name for p in op.params if p.where == "path"}
    if described != set(route.param_convertors):
        raise UndescribedRoute(
            f"{route.path}: path parameters {sorted(route.param_convertors)}, "
            f"described {sorted(described)}"
        )
    return op


def _render(route: Route, op: Operation, refs: Mapping[Any, JSON]) -> JSON:
    scope = route_scope(route)
    rendered: JSON = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        # OpenAPI 3.1 lets a non-OAuth scheme list the roles it needs: here, the scope.
        "security": [{BEARER: [scope]}, {API_KEY: [scope]}] if scope else [],
    }
    if scope:
        rendered["x-required-scope"] = scope
    description = op.description
    if scope:
        description = (description + "\n\n" if description else "") + f"Needs `{scope}`."
    if description:
        rendered["description"] = description
    if op.params:
        rendered["parameters"] = [_parameter(p, route.param_convertors) for p in op.params]
    if op.body is not None:
        rendered["requestBody"] = _request_body(op, refs)
    limited = {**RATE_LIMIT_HEADERS} if scope else {}
    responses: JSON = {str(a.status): _answer(a, refs, limited) for a in op.answers}
    errors = dict(op.errors)
    if scope:
        for status, text in GUARD_ERRORS.items():
            errors[status] = f"{errors[status]} {text}" if status in errors else text
    for status, description in errors.items():
        responses[str(status)] = _problem(status, description, refs, bool(scope))
    rendered["responses"] = dict(sorted(responses.items()))
    return rendered


def route_scope(route: Route) -> str | None:
    """The scope an ``ApiRoute`` needs; None for a route that takes no credential."""
    scope = getattr(route, "scope", None)
    return scope if isinstance(route, ApiRoute) and isinstance(scope, str) else None


def _parameter(param: Param, convertors: Mapping[str, Convertor[Any]]) -> JSON:
    schema = dict(param.schema)
    if param.where == "path":
        schema = {**_path_schema(convertors[param.name]), **schema}
    rendered: JSON = {"name": param.name, "in": param.where, "description": param.description}
    if param.where == "path":
        rendered["required"] = True
    rendered["schema"] = schema or {"type": "string"}
    return rendered


def _path_schema(convertor: Convertor[Any]) -> JSON:
    if isinstance(convertor, IntegerConvertor):
        return {"type": "integer", "minimum": 0}
    if isinstance(convertor, FloatConvertor):
        return {"type": "number", "minimum": 0}
    if isinstance(convertor, UUIDConvertor):
        return {"type": "string", "format": "uuid"}
    return {"type": "string", "pattern": f"^{convertor.regex}$"}


def _request_body(op: Operation, refs: Mapping[Any, JSON]) -> JSON:
    if isinstance(op.body, type):
        content = {"application/json": {"schema": refs[(op.body, "validation")]}}
    else:
        content = {media: {"schema": schema} for media, schema in (op.body or {}).items()}
    body: JSON = {"required": True, "content": content}
    if op.body_description:
        body["description"] = op.body_description
    return body


def _answer(answer: Answer, refs: Mapping[Any, JSON], extra: Mapping[str, str]) -> JSON:
    rendered: JSON = {"description": answer.description}
    if answer.headers or extra:
        rendered["headers"] = _headers({**answer.headers, **extra})
    if answer.model is not None:
        rendered["content"] = {answer.media_type: {"schema": refs[(answer.model, "serialization")]}}
    elif answer.schema is not None:
        rendered["content"] = {answer.media_type: {"schema": answer.schema}}
    return rendered


def _problem(status: int, description: str, refs: Mapping[Any, JSON], bearer: bool) -> JSON:
    # The body's ``status`` repeats the response's: say so, so a fuzzer can check it.
    schema = {**refs[(api.Problem, "serialization")], "properties": {"status": {"const": status}}}
    rendered: JSON = {"description": description, "content": {PROBLEM_JSON: {"schema": schema}}}
    if status == 401 and bearer:
        rendered["headers"] = _headers({"WWW-Authenticate": '`Bearer realm="parley"`'})
    elif status == 403 and bearer:
        rendered["headers"] = _headers(
            {"WWW-Authenticate": '`insufficient-scope` only: `error="insufficient_scope"`'}
        )
    elif status == 429:
        rendered["headers"] = _headers(
            {**RATE_LIMIT_HEADERS, "Retry-After": "seconds until a request would be allowed"}
        )
    elif status == 503:
        rendered["headers"] = _headers({"Retry-After": "seconds to wait before retrying"})
    return rendered


def _headers(headers: Mapping[str, str]) -> JSON:
    types = dict.fromkeys(("Retry-After", *RATE_LIMIT_HEADERS), "integer")
    return {
        name: {"description": text, "schema": {"type": types.get(name, "string")}}
        for name, text in headers.items()
    }


async def serve(request: Request) -> Response:
    """``GET /openapi.json``: built on the first request, then kept on the app."""
    cached: bytes | None = getattr(request.app.state, "openapi_document", None)
    if cached is None:
        state: IngressState = request.state.parley
        document = build_document(request.app.routes, state.settings.public_base_url)
        cached = json.dumps(document).encode()
        request.app.state.openapi_document = cached
    return Response(cached, media_type="application/json")


# What the handlers answer and refuse; keep each entry next to its handler's code in mind.
MALFORMED = (
    "`malformed-json`: the body is not JSON (`NaN`, `Infinity`, numbers out of range and "
    "unpaired surrogates included); `json-too-deep`: it nests deeper than "
    "`PARLEY_MAX_JSON_DEPTH` (32)."
)
TOO_LARGE = "`payload-too-large`: the body exceeds `PARLEY_MAX_BODY_BYTES` (64 KiB by default)."
INVALID = "`validation-error`: the body does not match the schema; `errors` lists each field."
UNAVAILABLE = "`unavailable`: nothing was queued; retry after `Retry-After` seconds."
PAGE = "`invalid-limit`: `limit` is not a positive integer; `invalid-cursor`: not one we issued."
LIMIT = Param(
    "limit",
    "query",
    "Page size, 50 by default; larger values are capped at `PARLEY_PAGE_SIZE_MAX`.",
    {"type": "integer", "minimum": 1},
)
CURSOR = Param("cursor", "query", "The `next_cursor` of the previous page.")
WEBHOOK_PATH = (
    Param("channel", "path", "The provider.", {"enum": sorted(SPECS)}),
    Param("config_id", "path", "The channel config's `id`: it names the tenant's account."),
)
WEBHOOK_SECURITY = (
    "Not bearer-authenticated: every request is verified by the provider's signature over the "
    "raw body: Meta's `X-Hub-Signature-256` (HMAC-SHA256 with the app secret), Slack's "
    "`X-Slack-Signature` over `v0:<timestamp>:<body>` within 5 minutes of "
    "`X-Slack-Request-Timestamp`, and for Teams a Bot Framework JWT in `Authorization`. "
    "Anything unverified is answered 401 and leaves nothing behind."
)
TENANT_ID = Param("tenant_id", "path", "The tenant's id.")
KEY_ID = Param("key_id", "path", "The API key's id (`key_…`).")
NO_TENANT = "`not-found`: no such tenant."
NO_KEY = "`not-found`: the tenant has no such active key."
# Creating a channel config: the body's rules, and the provider's proof of the account.
CONNECT_BODY = (
    "`account_id` has the channel's shape (whatsapp `phone_number_id`, messenger page id: "
    "digits, at most 32; slack team id: `T` and upper-case letters or digits, at most 32; "
    "teams: the bot's app id, a GUID). `secrets` must hold exactly the channel's secrets "
    "(whatsapp: access_token, app_secret, verify_token; messenger: page_token, app_secret, "
    "verify_token; slack: bot_token, signing_secret; teams: app_password), each at most 4096 "
    "characters; `options` only the channel's options. Before anything is stored the provider "
    "is asked, with these secrets, whether they are the account's: whatsapp Graph "
    "`GET /{phone_number_id}` (its `id` must match), messenger Graph `GET /me` with the page "
    "token (the page it names must be `account_id`), slack `auth.test` (its `team_id` must "
    "match), teams a Bot Framework token for the app id and password."
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
MESSAGE_ID = Param("message_id", "path", "The message's id (`msg_…`).")
DEAD_LETTER_ID = Param("dead_letter_id", "path", "The dead letter's id (`dl_…`).")

OPERATIONS: dict[Callable[..., Any], Operation] = {
    messages.post_message: Operation(
        "postMessage",
        "Accept a user's message and queue its turn",
        "messages",
        (
            Answer(
                202,
                "Accepted: stored and queued, or the first answer to this `Idempotency-Key`.",
                Accepted,
                headers={
                    "Location": "`/v1/messages/{message_id}`",
                    "Idempotent-Replayed": "`true` when this repeats an earlier request's answer",
                },
            ),
        ),
        {
            400: MALFORMED + " `invalid-idempotency-key`: not 1 to 255 printable characters.",
            404: "`not-found`: `conversation_id` names none of the tenant's conversations.",
            409: "`conflict`: the conversation is closed, or could not be resolved.",
            413: TOO_LARGE,
            422: INVALID + " `idempotency-key-reused`: the key came with another body.",
            429: "`quota-exceeded`: the tenant's `quotas.messages_per_day` is used up "
            "(`Retry-After`: seconds to midnight UTC).",
            503: UNAVAILABLE,
        },
        params=(
            Param(
                "Idempotency-Key",
                "header",
                "A retry with the same key and body gets the first answer and queues nothing; "
                "the same key with another body is refused (422). Keys live "
                "`PARLEY_IDEMPOTENCY_TTL_SECONDS` (24 h by default).",
                # Printable ASCII with something besides spaces: a subset of what the handler takes.
                {"type": "string", "maxLength": 255, "pattern": r"^[ -~]*[!-~][ -~]*$"},
            ),
        ),
        body=MessageIn,
        body_description="`text` must not be blank; `metadata` keys may not be empty, start "
        "with `$` or contain `.`; its arrays may not hold arrays directly, its integers must "
        "fit in 64 bits; it nests at most 8 deep.",
    ),
    messages.get_message: Operation(
        "getMessage",
        "A message's status and journey",
        "messages",
        (Answer(200, "The message.", api.MessageView),),
        {404: "`not-found`: no such message for this tenant."},
        params=(MESSAGE_ID,),
    ),
    conversations.list_conversation_messages: Operation(
        "listConversationMessages",
        "A conversation's messages, oldest first",
        "conversations",
        (Answer(200, "One page of messages.", api.ConversationMessagesPage),),
        {400: PAGE, 404: "`not-found`: no such conversation for this tenant."},
        params=(
            Param("conversation_id", "path", "The conversation's id."),
            LIMIT,
            CURSOR,
        ),
    ),
    channels_admin.create_channel: Operation(
        "createChannelConfig",
        "Connect a provider account",
        "channels",
        (
            Answer(
                201,
                "Created; the answer lists which secrets are set, never their values.",
                api.ChannelConfigView,
                headers={"Location": "`/v1/admin/channels/{id}`"},
            ),
        ),
        CONNECT_ERRORS,
        body=channels_admin.ChannelConfigIn,
        body_description=CONNECT_BODY,
    ),
    channels_admin.list_channels: Operation(
        "listChannelConfigs",
        "The tenant's channel configs",
        "channels",
        (Answer(200, "Every channel config of the tenant.", api.ChannelConfigList),),
        {},
    ),
    channels_admin.get_channel: Operation(
        "getChannelConfig",
        "One channel config",
        "channels",
        (Answer(200, "The channel config.", api.ChannelConfigView),),
        {404: "`not-found`: no such channel config for this tenant."},
        params=(Param("config_id", "path", "The channel config's id (`chc_…`)."),),
    ),
    tenants_admin.create_tenant: Operation(
        "createTenant",
        "Create a tenant",
        "admin",
        (
            Answer(
                201,
                "Created, active.",
                api.TenantView,
                headers={"Location": "`/v1/admin/tenants/{id}`"},
            ),
        ),
        {400: MALFORMED, 409: "`conflict`: the id is taken.", 413: TOO_LARGE, 422: INVALID},
        body=tenants_admin.TenantIn,
    ),
    tenants_admin.list_tenants: Operation(
        "listTenants",
        "Every tenant, in id order",
        "admin",
        (Answer(200, "One page of tenants.", api.TenantPage),),
        {400: PAGE},
        params=(LIMIT, CURSOR),
    ),
    tenants_admin.get_tenant: Operation(
        "getTenant",
        "One tenant",
        "admin",
        (Answer(200, "The tenant.", api.TenantView),),
        {404: NO_TENANT},
        params=(TENANT_ID,),
    ),
    tenants_admin.update_tenant: Operation(
        "updateTenant",
        "Change a tenant's name, state or settings",
        "admin",
        (Answer(200, "The tenant as it is now.", api.TenantView),),
        {400: MALFORMED, 404: NO_TENANT, 413: TOO_LARGE, 422: INVALID},
        params=(TENANT_ID,),
        body=tenants_admin.TenantPatch,
        body_description="Only the fields given change; a settings group given is replaced "
        "whole. `state: disabled` refuses all of the tenant's traffic, webhooks included, "
        "within `PARLEY_TENANT_CACHE_SECONDS`.",
    ),
    tenants_admin.create_tenant_channel: Operation(
        "createTenantChannelConfig",
        "Connect a provider account for a tenant",
        "admin",
        (Answer(201, "Created; secrets are never shown.", api.ChannelConfigView),),
        {**CONNECT_ERRORS, 404: NO_TENANT},
        params=(TENANT_ID,),
        body=channels_admin.ChannelConfigIn,
        body_description=CONNECT_BODY,
    ),
    keys_admin.issue_key: Operation(
        "issueApiKey",
        "Issue an API key for a tenant",
        "admin",
        (Answer(201, "Issued; `key` is shown this once.", api.IssuedApiKey),),
        {400: MALFORMED, 404: NO_TENANT, 413: TOO_LARGE, 422: INVALID},
        params=(TENANT_ID,),
        body=keys_admin.ApiKeyIn,
    ),
    keys_admin.list_keys: Operation(
        "listApiKeys",
        "A tenant's API keys, revoked ones included, never their secrets",
        "admin",
        (Answer(200, "The keys, oldest first.", api.ApiKeyList),),
        {404: NO_TENANT},
        params=(TENANT_ID,),
    ),
    keys_admin.rotate_key: Operation(
        "rotateApiKey",
        "Replace a key by a new one with its name and scopes; the old one is revoked",
        "admin",
        (Answer(201, "The new key; `key` is shown this once.", api.IssuedApiKey),),
        {404: NO_KEY},
        params=(TENANT_ID, KEY_ID),
    ),
    keys_admin.revoke_key: Operation(
        "revokeApiKey",
        "Revoke a key: refused from the next request on",
        "admin",
        (Answer(204, "Revoked."),),
        {404: NO_KEY},
        params=(TENANT_ID, KEY_ID),
    ),
    tokens_admin.revoke_token: Operation(
        "revokeToken",
        "Refuse a tenant's JWT (by `jti`) until it expires",
        "admin",
        (Answer(204, "Revoked: refused from the next request on."),),
        {400: MALFORMED, 413: TOO_LARGE, 422: INVALID},
        params=(TENANT_ID,),
        body=tokens_admin.TokenRevocationIn,
    ),
    dead_letters.list_dead_letters: Operation(
        "listDeadLetters",
        "The tenant's dead letters, filtered",
        "dead-letters",
        (Answer(200, "One page of dead letters.", api.DeadLetterPage),),
        {400: PAGE + " `invalid-filter`: a filter is not one of its values."},
        params=(
            Param(
                "state",
                "query",
                f"`{OPEN}` by default; `{dead_letters.EVERY_STATE}` for every state.",
                {"enum": [*STATES, dead_letters.EVERY_STATE], "default": OPEN},
            ),
            Param("channel", "query", "Only turns that came in on this channel."),
            Param("stage", "query", "Only turns that failed at this stage.", {"enum": [*STAGES]}),
            Param("reason", "query", "Only turns that gave up so.", {"enum": [*CLASSIFICATIONS]}),
            LIMIT,
            CURSOR,
        ),
    ),
    dead_letters.get_dead_letter: Operation(
        "getDeadLetter",
        "One dead letter",
        "dead-letters",
        (Answer(200, "The dead letter.", api.DeadLetterView),),
        {404: "`not-found`: no such dead letter for this tenant."},
        params=(DEAD_LETTER_ID,),
    ),
    dead_letters.purge_dead_letter: Operation(
        "purgeDeadLetter",
        "Delete a dead letter",
        "dead-letters",
        (Answer(204, "Deleted."),),
        {404: "`not-found`: no such dead letter for this tenant."},
        params=(DEAD_LETTER_ID,),
    ),
    dead_letters.replay_dead_letter_route: Operation(
        "replayDeadLetter",
        "Replay a dead letter's turn from its failed stage",
        "dead-letters",
        (Answer(202, "The turn is queued again.", api.ReplayAccepted),),
        {
            404: "`not-found`: no such dead letter for this tenant.",
            409: "`already-replayed`, `not-open` (a replay is running) or `not-replayable` "
            "(the message is neither failed nor dead-lettered).",
            503: UNAVAILABLE,
        },
        params=(DEAD_LETTER_ID,),
    ),
    webhooks.handshake: Operation(
        "webhookHandshake",
        "A provider's subscription handshake (Meta: WhatsApp, Messenger)",
        "webhooks",
        (
            Answer(
                200,
                "The `hub.challenge`, echoed.",
                schema={"type": "string"},
                media_type="text/plain",
                headers={"X-Content-Type-Options": "`nosniff`"},
            ),
        ),
        {
            400: "`invalid-challenge`: the token matches but `hub.challenge` is not 1 to 128 "
            "letters, digits, `-` or `_`; nothing is echoed.",
            401: "`unauthorized`: not a subscribe handshake, the verify token does not match, "
            "or the channel has no GET handshake (Slack, Teams).",
            404: "`not-found`: no active config of this channel with this id.",
            429: "`rate-limited`: too many failed handshakes for this config "
            "(`PARLEY_HANDSHAKE_FAILURE_BURST`); until `Retry-After`, the right token too.",
            503: "`unavailable`: handshakes cannot be limited now (Redis is down).",
        },
        params=(
            *WEBHOOK_PATH,
            Param("hub.mode", "query", "`subscribe`.", {"enum": ["subscribe"]}),
            Param("hub.verify_token", "query", "The config's `verify_token` secret."),
            Param(
                "hub.challenge",
                "query",
                "Echoed back when the token matches.",
                {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"},
            ),
        ),
        authenticated=False,
        description="Verified by the config's `verify_token`, not a bearer token.",
    ),
    webhooks.receive: Operation(
        "receiveWebhook",
        "A provider's events: messages and delivery statuses",
        "webhooks",
        (
            Answer(
                200,
                "Verified and stored. Slack's `url_verification` gets its challenge back.",
                api.WebhookAnswer,
            ),
        ),
        {
            401: "`unauthorized`: the signature, token or body could not be verified, "
            "or it names an account that is not the config's.",
            404: "`not-found`: no active config of this channel with this id.",
            409: "`conflict`: the user's open conversation could not be resolved.",
            413: "`payload-too-large`: the body exceeds `PARLEY_MAX_WEBHOOK_BYTES` (1 MiB).",
            503: UNAVAILABLE,
        },
        params=(
            *WEBHOOK_PATH,
            Param("X-Hub-Signature-256", "header", "Meta: `sha256=<hex HMAC-SHA256>`."),
            Param("X-Slack-Signature", "header", "Slack: `v0=<hex HMAC-SHA256>`."),
            Param("X-Slack-Request-Timestamp", "header", "Slack: Unix seconds."),
        ),
        body={
            "application/json": {"type": "object", "description": "The provider's event."},
            "application/x-www-form-urlencoded": {
                "type": "object",
                "properties": {"payload": {"type": "string", "description": "JSON"}},
                "description": "Slack interactivity: the interaction as JSON in `payload`.",
            },
        },
        body_description="The raw bytes are verified before they are parsed.",
        authenticated=False,
        description=WEBHOOK_SECURITY,
    ),
    health.live: Operation(
        "healthLive",
        "Liveness",
        "health",
        (Answer(200, "The process serves requests.", api.Live),),
        authenticated=False,
    ),
    health.ready: Operation(
        "healthReady",
        "Readiness: Redis, broker and MongoDB answer, so work can be accepted",
        "health",
        (
            Answer(
                200,
                "Redis, the broker and MongoDB are up; Kafka or the engine being down makes it "
                "`degraded`, still 200 (the outbox keeps events, the fallback text answers). "
                "Reports are reused for `PARLEY_READINESS_CACHE_SECONDS` (1 s).",
                api.Ready,
            ),
            Answer(
                503,
                "Redis, the broker or MongoDB is down; `detail` names which.",
                api.NotReady,
                media_type=PROBLEM_JSON,
            ),
        ),
        authenticated=False,
    ),
    serve: Operation(
        "getOpenApi",
        "This document",
        "meta",
        (Answer(200, "OpenAPI 3.1.", schema={"type": "object"}),),
        authenticated=False,
    ),
}

routes = [Route("/openapi.json", serve, methods=["GET"])]
