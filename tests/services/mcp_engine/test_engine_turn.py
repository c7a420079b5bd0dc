"""A turn in the engine's wire format: the request built from stored documents, the response read
back as plain documents (no services needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.struct_pb2 import Struct

from protos import mcp_engine_pb2 as pb
from protos.engine_turn import build_request, context_changes, engine_settings, reply_parts

AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
MESSAGE = {
    "_id": "msg-2",
    "tenant_id": "acme",
    "conversation_id": "conv-1",
    "channel": "api",
    "user_id": "u-1",
    "direction": "inbound",
    "text": "Hello  there",
    "created_at": AT,
    "processing": {"normalized_text": "hello there", "message_type": "text"},
}


def test_the_request_carries_the_turn_its_history_and_its_context() -> None:
    earlier = {"_id": "msg-1", "direction": "outbound", "text": "Hi!", "created_at": AT}

    request = build_request(MESSAGE, [earlier], {"name": "Ada"}, pb.EngineSettings(model="m"))

    assert (request.request_id, request.message_id, request.tenant_id) == ("msg-2", "msg-2", "acme")
    assert (request.conversation_id, request.channel, request.user_id) == ("conv-1", "api", "u-1")
    assert request.text == "hello there"  # the normalised text: what the processors left
    assert request.processing.normalized_text == "hello there"
    assert [(h.message_id, h.direction, h.text) for h in request.history] == [
        ("msg-1", pb.DIRECTION_OUTBOUND, "Hi!")
    ]
    assert request.history[0].created_at_ms == int(AT.timestamp() * 1000)
    assert dict(request.session_context) == {"name": "Ada"}
    assert request.engine.model == "m"


def test_an_unprocessed_message_sends_its_own_text_as_normalized() -> None:
    request = build_request({**MESSAGE, "processing": {}}, [], {})

    assert (request.processing.normalized_text, request.processing.message_type) == (
        "Hello  there",
        "text",
    )
    assert not request.HasField("engine")


def test_the_engine_gets_the_redacted_text_and_the_findings_now_and_in_the_history() -> None:
    redacted = {"normalized_text": "card 4111111111111111", "engine_text": "card [card]"}
    earlier = {**MESSAGE, "_id": "msg-1", "text": "card 4111111111111111", "processing": redacted}
    processing = {**redacted, "language": {"code": "en", "confidence": 0.8}}

    request = build_request({**MESSAGE, "processing": processing}, [earlier], {})

    assert (request.text, request.processing.normalized_text) == ("card [card]", "card [card]")
    assert (request.processing.language, request.history[0].text) == ("en", "card [card]")
    assert "4111" not in str(request)


def test_engine_settings_of_the_wrong_type_are_left_out() -> None:
    stored = {"backend": "openai", "model": 7, "temperature": True, "system_prompt": "Be brief."}

    settings = engine_settings(stored)

    assert settings == pb.EngineSettings(backend="openai", system_prompt="Be brief.")
    assert engine_settings({"temperature": 0.5}) == pb.EngineSettings(temperature=0.5)
    assert engine_settings({}) is None


def test_the_reply_parts_and_context_changes_read_back_as_documents() -> None:
    changed = Struct()
    changed.update({"step": "menu"})
    response = pb.GenerateResponse(
        parts=[
            pb.ReplyPart(text="Pick one"),
            pb.ReplyPart(),  # a part without a kind is skipped
            pb.ReplyPart(media=pb.Media(url="https://example.com/a.png", mime_type="image/png")),
        ],
        context_update=pb.ContextUpdate(set=changed, unset=["draft"]),
    )

    assert reply_parts(response) == [
        {"type": "text", "text": "Pick one"},
        {"type": "media", "url": "https://example.com/a.png", "mime_type": "image/png"},
    ]
    assert context_changes(response) == ({"step": "menu"}, ["draft"])
    assert context_changes(pb.GenerateResponse()) == ({}, [])
