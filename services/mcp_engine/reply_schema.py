"""The reply the openai backend asks a model for, as a strict JSON schema derived from the
engine proto's ``ReplyPart``, and the model's answer read back as reply parts.

The schema is generated from the message descriptors, so a part added to the proto is one the
model can produce with no second definition: ``{"parts": [{"<kind>": {...}}, ...]}``, one key per
part, every field required (structured outputs' strict mode), proto3 ``optional`` fields
nullable. The model fills fields it has no use for with empty values, which read back as unset.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from protos import mcp_engine_pb2

SCHEMA_NAME = "parley_reply"
Schema = dict[str, Any]

_SCALARS = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_DOUBLE: "number",
    FieldDescriptor.TYPE_FLOAT: "number",
    FieldDescriptor.TYPE_INT32: "integer",
    FieldDescriptor.TYPE_INT64: "integer",
    FieldDescriptor.TYPE_BOOL: "boolean",
}


class NotReplyParts(ValueError):
    """A completion that claims to be reply parts (a JSON object with ``parts``) but is not."""


def _field(field: Any) -> Schema:  # a FieldDescriptor, of either protobuf implementation
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        schema = _message(field.message_type)
    else:
        schema = {"type": _SCALARS[field.type]}
    if field.is_repeated:
        return {"type": "array", "items": schema}
    if field.has_presence and field.type != FieldDescriptor.TYPE_MESSAGE:
        return {"type": [schema["type"], "null"]}
    return schema


def _message(descriptor: Descriptor) -> Schema:
    properties = {field.name: _field(field) for field in descriptor.fields}
    return _object(properties)


def _object(properties: dict[str, Schema]) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def reply_schema() -> Schema:
    """``{"parts": [...]}`` where each part is one of ``ReplyPart``'s kinds."""
    kinds = mcp_engine_pb2.ReplyPart.DESCRIPTOR.oneofs_by_name["kind"].fields
    part = {"anyOf": [_object({field.name: _field(field)}) for field in kinds]}
    return _object({"parts": {"type": "array", "items": part}})


def response_format() -> dict[str, Any]:
    """The chat-completions ``response_format`` that asks for reply parts."""
    schema = {"name": SCHEMA_NAME, "strict": True, "schema": reply_schema()}
    return {"type": "json_schema", "json_schema": schema}


def parts_from_completion(content: str) -> list[mcp_engine_pb2.ReplyPart] | None:
    """The reply parts of a structured completion; None when the completion is plain text (a
    server that ignores ``response_format``). Parts that say nothing are left out."""
    try:
        answer = json.loads(content)
    except ValueError:
        return None
    if not isinstance(answer, dict) or "parts" not in answer:
        return None
    raw_parts = answer["parts"]
    if not isinstance(raw_parts, list):
        raise NotReplyParts("parts is not an array")
    parts = []
    for raw in raw_parts:
        part = mcp_engine_pb2.ReplyPart()
        try:
            json_format.ParseDict(_without_nulls(raw), part)
        except json_format.ParseError as exc:
            raise NotReplyParts(str(exc)) from None
        kind = part.WhichOneof("kind")
        if kind is not None and (kind != "text" or part.text.strip()):
            parts.append(part)
    return parts


def _without_nulls(node: Any) -> Any:
    """A nullable field the model set to null is a field it left unset."""
    if isinstance(node, dict):
        return {key: _without_nulls(value) for key, value in node.items() if value is not None}
    if isinstance(node, list):
        return [_without_nulls(item) for item in node]
    return node
