"""Reading request bodies: bounded in size, parsed as JSON, validated by pydantic models."""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from core.settings import Settings
from ingress.problems import Problem

Model = TypeVar("Model", bound=BaseModel)
DEFAULT_MAX_DEPTH = 32


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) as soon as it exceeds ``limit`` bytes, declared or streamed."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and len(declared) > 18:
        raise _too_large(limit)
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> Problem:
    return Problem(413, "payload-too-large", "Payload too large", f"the body exceeds {limit} bytes")


def parse_json(raw: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The body as JSON; 400 when it is not JSON or nests deeper than ``max_depth``."""
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, NonStandardNumber) as exc:
        raise Problem(
            400, "malformed-json", "Malformed JSON", f"the body is not JSON: {exc}"
        ) from None
    except RecursionError:  # nesting deep enough to exhaust the parser's stack
        raise _too_deep(max_depth) from None
    _check_shape(data, max_depth)
    return data


class NonStandardNumber(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's parser takes them, JSON does not."""


def _refuse_constant(name: str) -> Any:
    raise NonStandardNumber(f"{name} is not a JSON number")


async def read_json(request: Request, settings: Settings) -> Any:
    """The body, bounded in size and depth by the settings, parsed as JSON."""
    raw = await read_limited(request, settings.max_body_bytes)
    data = parse_json(raw, settings.max_json_depth)
    if isinstance(data, dict):  # which fields were given, for the audit trail (never values)
        request.state.body_fields = sorted(str(name) for name in data)
    return data


def _check_shape(data: Any, max_depth: int) -> None:
    """Refuses nesting deeper than ``max_depth`` and strings that are not valid Unicode (JSON
    escapes can spell unpaired surrogates, which no store can encode); no recursion."""
    stack = [(data, 0)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict | list):
            if level + 1 > max_depth:
                raise _too_deep(max_depth)
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((item, level + 1) for item in items)
        elif isinstance(value, float) and not math.isfinite(value):  # e.g. 1e400
            raise Problem(
                400, "malformed-json", "Malformed JSON", "the body holds a number out of range"
            )
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise Problem(
                    400,
                    "malformed-json",
                    "Malformed JSON",
                    "the body holds a string that is not valid Unicode (an unpaired surrogate)",
                ) from None


def _too_deep(max_depth: int) -> Problem:
    return Problem(
        400, "json-too-deep", "JSON nested too deeply", f"the body nests deeper than {max_depth}"
    )


def validate(model: type[Model], data: Any, context: dict[str, Any] | None = None) -> Model:
    """The body as ``model``; ``context`` reaches its validators (e.g. a setting they obey)."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(p) for p in err["loc"]) or "(body)",
                "message": err["msg"],
                "type": err["type"],
            }
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise Problem(
            422,
            "validation-error",
            "Validation error",
            "the body does not match the schema",
            errors=errors,
        ) from None
