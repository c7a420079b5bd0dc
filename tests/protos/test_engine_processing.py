"""The message's processing document reaches the engine request: every finding when it is there,
a valid request when it is not, and nothing the tenant's safety policy redacted (no services)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import json_format

from protos import mcp_engine_pb2 as pb
from protos.engine_processing import engine_text, processing_result

TEXT = "Bonjour, je voudrais annuler ma commande 1234, écrivez-moi à jean@example.fr"
REDACTED = "Bonjour, je voudrais annuler ma commande 1234, écrivez-moi à [email]"
PROCESSING = {
    "normalized_text": TEXT,
    "message_type": "text",
    "engine_text": REDACTED,
    "language": {"code": "fr", "confidence": 0.93, "source": "detected"},
    "entities": [
        {"type": "order_number", "text": "1234", "value": "1234", "start": 41, "end": 45},
        {
            "type": "email",
            "text": "jean@example.fr",
            "value": "jean@example.fr",
            "start": 61,
            "end": 76,
        },
        {
            "type": "amount",
            "text": "12,50 €",
            "value": {"amount": 12.5, "currency": "EUR"},
            "start": 0,
            "end": 7,
        },
        {
            "type": "datetime",
            "text": "demain",
            "value": datetime(2025, 1, 3, tzinfo=UTC),
            "start": 8,
            "end": 14,
        },
    ],
    "sentiment": {"label": "negative", "score": -0.25, "method": "vader"},
    "safety": {
        "flags": [
            {"category": "email", "start": 61, "end": 76, "action": "redact"},
            {"category": "abuse", "start": 0, "end": 7, "action": "flag"},
            {"category": "email", "start": 80, "end": 90, "action": "redact"},
        ],
        "action": "redact",
    },
    "stages": [{"processor": "language", "stage": "processing", "outcome": "ok"}],
}


def as_json(message: pb.ProcessingResult) -> object:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def test_every_finding_reaches_the_request_but_redacted_entities() -> None:
    result = processing_result({"text": TEXT, "processing": PROCESSING})

    assert as_json(result) == {
        "normalized_text": REDACTED,
        "message_type": "text",
        "language": "fr",
        "language_confidence": 0.93,
        "entities": [
            {"type": "order_number", "text": "1234", "value": "1234", "start": 41, "end": 45},
            {
                "type": "amount",
                "text": "12,50 €",
                "value": '{"amount": 12.5, "currency": "EUR"}',
                "end": 7,
            },
            {
                "type": "datetime",
                "text": "demain",
                "value": "2025-01-03T00:00:00+00:00",
                "start": 8,
                "end": 14,
            },
        ],
        "sentiment": {"label": "negative", "score": -0.25},
        "safety": {"action": "redact", "categories": ["email", "abuse"]},
    }
    assert "jean@example.fr" not in str(result)


def test_media_and_location_summaries_reach_the_request() -> None:
    media = {"type": "audio", "mime_type": "audio/ogg", "size": 9, "blob_id": "b-1",
             "width": None, "height": None, "duration_seconds": 3.5, "scan": "clean"}  # fmt: skip
    location = {"latitude": 0.0, "longitude": 2.35, "precision_decimals": 2, "exact": False,
                "place": "Paris", "region": "Île-de-France", "country": "FR"}  # fmt: skip

    result = processing_result({"text": "", "processing": {"media": media, "location": location}})

    assert as_json(result.media) == {
        "type": "audio",
        "mime_type": "audio/ogg",
        "duration_seconds": 3.5,
    }
    assert result.location == pb.LocationSummary(
        place="Paris", region="Île-de-France", country="FR", latitude=0.0, longitude=2.35
    )
    assert result.location.HasField("latitude")  # the equator is a latitude, not "unknown"


def test_an_unprocessed_message_builds_a_valid_request() -> None:
    for message in ({"text": "hi"}, {"text": "hi", "processing": {}}):
        result = processing_result(message)

        assert result == pb.ProcessingResult(normalized_text="hi", message_type="text")
        assert not result.HasField("sentiment")
        assert not result.HasField("safety")
        assert not result.HasField("media")
        assert not result.HasField("location")


def test_values_of_the_wrong_type_are_left_out() -> None:
    processing = {
        "language": "de",  # a bare code
        "entities": ["not an entity", {"type": 3, "start": "0", "value": None}],
        "sentiment": {"label": None, "score": True},
        "safety": {"flags": "none", "action": "allow"},
        "location": {"latitude": "48.8", "place": "Paris"},
    }

    result = processing_result({"text": "Hallo", "processing": processing})

    assert result.language == "de"
    assert list(result.entities) == [pb.Entity()]
    assert result.sentiment == pb.Sentiment()
    assert result.safety == pb.Safety(action="allow")
    assert result.location == pb.LocationSummary(place="Paris")
    assert not result.location.HasField("latitude")


def test_the_engine_reads_the_redacted_text_else_the_normalised_else_the_stored() -> None:
    stored = {"text": " Hi  there "}

    assert engine_text({**stored, "processing": PROCESSING}) == REDACTED
    assert engine_text({**stored, "processing": {"normalized_text": "Hi there"}}) == "Hi there"
    assert engine_text(stored) == " Hi  there "
    assert engine_text({}) == ""
