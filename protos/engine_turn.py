"""One turn in the engine's wire format: the GenerateRequest built from the stored message, its
conversation's recent history, the session context and the tenant's engine settings; and the
GenerateResponse read back as plain documents (reply parts, context changes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Struct

from protos import mcp_engine_pb2 as pb
from protos.engine_processing import engine_text, processing_result

Document = Mapping[str, Any]  # a stored message, as storage reads it


def _history_entry(message: Document) -> pb.HistoryEntry:
    inbound = message["direction"] == "inbound"
    return pb.HistoryEntry(
        message_id=message["_id"],
        direction=pb.DIRECTION_INBOUND if inbound else pb.DIRECTION_OUTBOUND,
        text=engine_text(message),  # an earlier message's redacted copy, like the current one's
        created_at_ms=int(message["created_at"].timestamp() * 1000),
    )


def engine_settings(stored: Mapping[str, Any]) -> pb.EngineSettings | None:
    """A tenant's stored ``engine`` settings as the engine request carries them; None when there
    are none (the engine's defaults apply). Values of the wrong type are left out rather than
    failing the turn (the admin API validates them; this guards documents written otherwise)."""
    settings = pb.EngineSettings()
    for name in ("backend", "model", "system_prompt"):
        value = stored.get(name)
        if isinstance(value, str):
            setattr(settings, name, value)
    temperature = stored.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        settings.temperature = float(temperature)
    return settings if settings.ListFields() else None


def build_request(
    message: Document,
    history: Sequence[Document],
    context: Mapping[str, Any],
    engine: pb.EngineSettings | None = None,
    together: Sequence[Document] = (),
) -> pb.GenerateRequest:
    """The engine request for a turn; ``engine`` is the tenant's settings, if it has any. Its
    text is the one the processors left for the engine (``engine_processing.engine_text``).
    ``together``: the later messages of a burst answered with ``message`` (docs/bursts.md)."""
    session_context = Struct()
    session_context.update(context)
    burst = [message, *together] if together else []
    return pb.GenerateRequest(
        request_id=message["_id"],
        tenant_id=message["tenant_id"],
        conversation_id=message["conversation_id"],
        channel=message["channel"],
        user_id=message["user_id"],
        message_id=message["_id"],
        text="\n".join(engine_text(m) for m in burst) if burst else engine_text(message),
        history=[_history_entry(m) for m in history],
        session_context=session_context,
        processing=processing_result(message),
        engine=engine,
        burst=[_burst_message(m) for m in burst],
    )


def _burst_message(message: Document) -> pb.BurstMessage:
    return pb.BurstMessage(
        message_id=message["_id"],
        text=engine_text(message),
        created_at_ms=int(message["created_at"].timestamp() * 1000),
        processing=processing_result(message),
    )


def reply_parts(response: pb.GenerateResponse) -> list[dict[str, Any]]:
    """The engine's reply parts as plain documents, each tagged with its ``type``."""
    parts: list[dict[str, Any]] = []
    for part in response.parts:
        kind = part.WhichOneof("kind")
        if kind is None:
            continue
        if kind == "text":
            parts.append({"type": "text", "text": part.text})
        else:
            body = MessageToDict(getattr(part, kind), preserving_proto_field_name=True)
            parts.append({"type": kind, **body})
    return parts


def context_changes(response: pb.GenerateResponse) -> tuple[dict[str, Any], list[str]]:
    """The session context keys the engine sets (with their values) and the keys it unsets."""
    update = response.context_update
    changed = MessageToDict(update.set) if update.HasField("set") else {}
    return changed, list(update.unset)
