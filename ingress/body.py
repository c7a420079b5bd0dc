"""Reading request bodies: bounded in size, parsed as JSON, validated by pydantic models."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from ingress.problems import Problem

Model = TypeVar("Model", bound=BaseModel)


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


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Problem(
            400, "malformed-json", "Malformed JSON", f"the body is not JSON: {exc}"
        ) from None


def validate(model: type[Model], data: Any) -> Model:
    try:
        return model.model_validate(data)
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
