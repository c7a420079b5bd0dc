"""OpenAPI 3.1 for the ingress, generated from the app's route table and the pydantic models.

``build_document`` walks ``app.routes``. What a route's code cannot tell (summary, the query
parameters it reads, the errors it can answer) is declared beside its handler with
``@documented`` (``ingress.operations``); paths and path parameters come from the route, and
every schema from a pydantic model (``ingress.api_models``, the request models of the handler
modules) via ``models_json_schema``, its ``$defs`` becoming ``components.schemas``. A route
without a declaration is an error, not a gap in the document. ``GET /openapi.json`` serves it.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.convertors import Convertor, FloatConvertor, IntegerConvertor, UUIDConvertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from ingress.api_models import ProblemDetails
from ingress.operations import JSON, Answer, Operation, Param, documented, operation_of
from ingress.problems import PROBLEM_JSON
from ingress.routing import ApiRoute
from ingress.state import IngressState
from ingress.visitor_auth import VisitorRoute

REF_TEMPLATE = "#/components/schemas/{model}"
BEARER = "bearerAuth"
API_KEY = "apiKeyAuth"
VISITOR = "visitorAuth"
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


# What the guard of every visitor route can answer (``ingress.visitor_auth``).
VISITOR_GUARD_ERRORS = {
    401: "`unauthorized`: no visitor token, or one that is expired or badly signed (API "
    "credentials included), or whose widget is gone.",
    403: "`origin-not-allowed`: `Origin` is not one the widget allows; `widget-disabled`, "
    "`tenant-disabled`.",
    429: "`rate-limited`: the visitor's rate limit; retry after `Retry-After` seconds.",
    503: "`unavailable`: rate limits cannot be checked now.",
}


class UndescribedRoute(LookupError):
    """A route of the app has no ``@documented`` declaration (or one that no longer fits it)."""


def build_document(routes: Iterable[BaseRoute], public_base_url: str) -> JSON:
    """The OpenAPI 3.1 document for ``routes``; raises ``UndescribedRoute`` for a route whose
    handler is not ``@documented``."""
    found = [(route, _operation(route)) for route in _http_routes(routes)]
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ProblemDetails, "serialization")]
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
                VISITOR: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A visitor token from `POST /v1/widget/{widget_id}/sessions`"
                    ": it names one tenant, widget and visitor, and reaches only that visitor's "
                    "conversation. No API credential works here, and it works nowhere else.",
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
    op = operation_of(route.endpoint)
    if op is None:
        raise UndescribedRoute(
            f"{_method(route)} {route.path} ({route.endpoint.__qualname__}) is not declared "
            "with @ingress.operations.documented"
        )
    if op.authenticated != (route_scope(route) is not None or isinstance(route, VisitorRoute)):
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
    visitor = isinstance(route, VisitorRoute)
    if visitor:
        rendered["security"] = [{VISITOR: []}]
        rendered["x-visitor"] = True
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
    guard = GUARD_ERRORS if scope else VISITOR_GUARD_ERRORS if visitor else {}
    for status, text in guard.items():
        errors[status] = f"{errors[status]} {text}" if status in errors else text
    for status, description in errors.items():
        responses[str(status)] = _problem(
            status, description, refs, bool(scope) or visitor, bool(scope)
        )
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
    for media_type, schema in answer.alternatives.items():
        rendered.setdefault("content", {})[media_type] = {"schema": schema}
    return rendered


def _problem(
    status: int, description: str, refs: Mapping[Any, JSON], bearer: bool, scoped: bool
) -> JSON:
    # The body's ``status`` repeats the response's: say so, so a fuzzer can check it.
    schema = {
        **refs[(ProblemDetails, "serialization")],
        "properties": {"status": {"const": status}},
    }
    rendered: JSON = {"description": description, "content": {PROBLEM_JSON: {"schema": schema}}}
    if status == 401 and bearer:
        rendered["headers"] = _headers({"WWW-Authenticate": '`Bearer realm="parley"`'})
    elif status == 403 and scoped:
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


@documented(
    Operation(
        "getOpenApi",
        "This document",
        "meta",
        (Answer(200, "OpenAPI 3.1.", schema={"type": "object"}),),
        authenticated=False,
    )
)
async def serve(request: Request) -> Response:
    """``GET /openapi.json``: built on the first request, then kept on the app."""
    cached: bytes | None = getattr(request.app.state, "openapi_document", None)
    if cached is None:
        state: IngressState = request.state.parley
        document = build_document(request.app.routes, state.settings.public_base_url)
        cached = json.dumps(document).encode()
        request.app.state.openapi_document = cached
    return Response(cached, media_type="application/json")


routes = [Route("/openapi.json", serve, methods=["GET"])]
