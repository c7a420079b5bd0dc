"""What a route's code cannot tell the OpenAPI document, declared beside its handler.

``@documented(Operation(...))`` on a handler records its summary, the parameters it reads, its
request body, its answers (each a response model of ``ingress.api_models``) and the problems
it can answer; ``ingress.openapi`` renders the declarations of the app's routes and refuses a
route without one. The phrases several routes share are here too, written once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

JSON = dict[str, Any]
Handler = TypeVar("Handler", bound=Callable[..., Any])


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
    # Other media types the same status may answer in (media type → schema), e.g. a CSV form.
    alternatives: Mapping[str, JSON] = field(default_factory=dict)


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


_DECLARED: dict[Callable[..., Any], Operation] = {}


def documented(operation: Operation) -> Callable[[Handler], Handler]:
    """Declares what the decorated handler answers (see the module docstring)."""

    def declare(handler: Handler) -> Handler:
        _DECLARED[handler] = operation
        return handler

    return declare


def operation_of(handler: Callable[..., Any]) -> Operation | None:
    return _DECLARED.get(handler)


MALFORMED = (
    "`malformed-json`: the body is not JSON (`NaN`, `Infinity`, numbers out of range and "
    "unpaired surrogates included); `json-too-deep`: it nests deeper than "
    "`PARLEY_MAX_JSON_DEPTH` (32)."
)
TOO_LARGE = "`payload-too-large`: the body exceeds `PARLEY_MAX_BODY_BYTES` (64 KiB by default)."
INVALID = "`validation-error`: the body does not match the schema; `errors` lists each field."
UNAVAILABLE = "`unavailable`: nothing was queued; retry after `Retry-After` seconds."
PAGE = "`invalid-limit`: `limit` is not a positive integer; `invalid-cursor`: not one we issued."
INVALID_FILTER = " `invalid-filter`: a filter is not one of its values."
LIMIT = Param(
    "limit",
    "query",
    "Page size, 50 by default; larger values are capped at `PARLEY_PAGE_SIZE_MAX`.",
    {"type": "integer", "minimum": 1},
)
CURSOR = Param("cursor", "query", "The `next_cursor` of the previous page.")
