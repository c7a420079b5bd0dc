"""A stored message's ``processing`` document (docs/processing.md) as the engine request's
``ProcessingResult`` and text.

Every part is optional: a message processed before a processor existed, or with it disabled,
has no such key, and a value of the wrong type is left out rather than failing the turn. The
engine reads the text the safety processor left (``engine_text``), and no entity the tenant's
policy redacted reaches it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any, TypeGuard

from protos import mcp_engine_pb2 as pb

Document = Mapping[str, Any]

_HIDDEN_ACTIONS = frozenset({"redact", "block"})  # what the engine must not see


def engine_text(message: Document) -> str:
    """What the engine reads: the redacted text, else the normalised one, else the stored one."""
    processing = _mapping(message.get("processing"))
    for text in (processing.get("engine_text"), processing.get("normalized_text")):
        if isinstance(text, str):
            return text
    text = message.get("text")
    return text if isinstance(text, str) else ""


def processing_result(message: Document) -> pb.ProcessingResult:
    """The request's ``processing``: the message's findings, each one only if it is there."""
    processing = _mapping(message.get("processing"))
    result = pb.ProcessingResult(
        normalized_text=engine_text(message),
        message_type=_text(processing.get("message_type")) or "text",
    )
    language = processing.get("language")
    if isinstance(language, str):  # a bare code, as an older pipeline may have written it
        result.language = language
    elif isinstance(language, Mapping):
        result.language = _text(language.get("code"))
        result.language_confidence = _number(language.get("confidence"))
    safety = _mapping(processing.get("safety"))
    result.entities.extend(_entities(processing.get("entities"), safety))
    sentiment = _mapping(processing.get("sentiment"))
    if sentiment:
        result.sentiment.label = _text(sentiment.get("label"))
        result.sentiment.score = _number(sentiment.get("score"))
    if safety:
        result.safety.action = _text(safety.get("action"))
        categories = (_text(flag.get("category")) for flag in _flags(safety))
        result.safety.categories.extend(dict.fromkeys(c for c in categories if c))
    media = _mapping(processing.get("media"))
    if media:
        result.media.CopyFrom(_media(media))
    location = _mapping(processing.get("location"))
    if location:
        result.location.CopyFrom(_location(location))
    return result


def _entities(raw: Any, safety: Document) -> Iterator[pb.Entity]:
    hidden = [
        (_integer(flag.get("start")), _integer(flag.get("end")))
        for flag in _flags(safety)
        if flag.get("action") in _HIDDEN_ACTIONS
    ]
    for entity in raw if isinstance(raw, list) else []:
        if not isinstance(entity, Mapping):
            continue
        start, end = _integer(entity.get("start")), _integer(entity.get("end"))
        if any(start < flag_end and flag_start < end for flag_start, flag_end in hidden):
            continue
        yield pb.Entity(
            type=_text(entity.get("type")),
            text=_text(entity.get("text")),
            value=_value(entity.get("value")),
            start=start,
            end=end,
        )


def _media(media: Document) -> pb.MediaSummary:
    return pb.MediaSummary(
        type=_text(media.get("type")),
        mime_type=_text(media.get("mime_type")),
        width=_integer(media.get("width")),
        height=_integer(media.get("height")),
        duration_seconds=_number(media.get("duration_seconds")),
        pages=_integer(media.get("pages")),
    )


def _location(location: Document) -> pb.LocationSummary:
    summary = pb.LocationSummary(
        place=_text(location.get("place")),
        region=_text(location.get("region")),
        country=_text(location.get("country")),
    )
    for name in ("latitude", "longitude"):
        value = location.get(name)
        if _is_number(value):
            setattr(summary, name, float(value))
    return summary


def _flags(safety: Document) -> list[Document]:
    flags = safety.get("flags")
    return [flag for flag in flags if isinstance(flag, Mapping)] if isinstance(flags, list) else []


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, date | datetime):
        return value.isoformat()
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _mapping(value: Any) -> Document:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> float:
    return float(value) if _is_number(value) else 0.0


def _integer(value: Any) -> int:
    return int(value) if _is_number(value) else 0
