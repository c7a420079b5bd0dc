"""The rules backend answers over real gRPC: greeting, intents, fallback, tenants, streaming."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from core.errors import ConfigurationError, PermanentError
from protos import mcp_engine_pb2 as pb
from protos.engine_client import EngineClient
from protos.engine_turn import reply_parts
from services.mcp_engine.rules import RulesBackend
from tests.services.mcp_engine.conftest import StartEngine

TIMEOUT = 5.0

MENU = {
    "text": "Hello! How can I help you today?",
    "options": [
        {"title": "Opening hours", "payload": "OPENING_HOURS"},
        {"title": "Prices", "payload": "PRICES"},
        {"title": "Talk to a person", "payload": "HUMAN"},
    ],
}


def turn(text: str, tenant_id: str = "acme", **fields: Any) -> pb.GenerateRequest:
    return pb.GenerateRequest(
        request_id="msg-1",
        tenant_id=tenant_id,
        conversation_id="conv-1",
        channel="web",
        user_id="user-1",
        message_id="msg-1",
        text=text,
        **fields,
    )


def rules_file(folder: Path, rules: dict[str, Any]) -> Path:
    path = folder / "rules.json"
    path.write_text(json.dumps(rules))
    return path


def as_json(message: Any) -> Any:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def test_greeting_answers_with_the_menu(client: EngineClient) -> None:
    reply = client.generate(turn("Hey there!"), timeout=TIMEOUT)

    assert as_json(reply) == {
        "parts": [{"quick_replies": MENU}],
        "context_update": {"set": {"last_intent": "greeting", "turns": 1.0}},
        "intent": "greeting",
        "confidence": 1.0,
        "backend": "rules",
    }


@pytest.mark.parametrize(
    ("text", "intent"),
    [("OLA!", "greeting"), ("Tschüß!", "goodbye"), ("When are you OPEN?", "opening_hours")],
)
def test_keywords_match_regardless_of_case_and_accents(
    client: EngineClient, text: str, intent: str
) -> None:
    assert client.generate(turn(text), TIMEOUT).intent == intent


def test_intent_answers_with_its_parts(client: EngineClient) -> None:
    reply = client.generate(turn("Hello, what are your opening hours?"), TIMEOUT)

    assert reply.intent == "opening_hours"  # intents are tried before the greeting
    assert [part.text for part in reply.parts] == ["We are open Monday to Friday, 9:00 to 18:00."]
    assert as_json(reply.context_update) == {"set": {"last_intent": "opening_hours", "turns": 1.0}}


def test_intent_context_is_set_in_the_update(client: EngineClient) -> None:
    reply = client.generate(turn("Can I talk to a human?"), TIMEOUT)

    assert reply.intent == "human_handoff"
    assert as_json(reply.context_update.set) == {
        "last_intent": "human_handoff",
        "turns": 1.0,
        "handoff_requested": True,
    }


def test_keywords_match_whole_words_only(client: EngineClient) -> None:
    assert client.generate(turn("this"), TIMEOUT).intent == "fallback"  # contains "hi"


def test_unmatched_text_gets_the_fallback(client: EngineClient) -> None:
    reply = client.generate(turn("Zebras are striped"), TIMEOUT)

    assert reply.intent == "fallback"
    assert reply.confidence == 0.0
    assert as_json(reply.parts[0].quick_replies)["text"] == (
        "Sorry, I didn't understand that. Here is what I can help with:"
    )


def test_processing_normalized_text_is_preferred(client: EngineClient) -> None:
    request = turn("¿cuánto cuesta?", processing=pb.ProcessingResult(normalized_text="how much"))

    assert client.generate(request, TIMEOUT).intent == "prices"


def test_a_burst_is_answered_from_all_of_its_messages(client: EngineClient) -> None:
    # The first message alone would get the fallback; the burst's second asks for prices.
    burst = [
        pb.BurstMessage(message_id="msg-1", text="Zebras are striped"),
        pb.BurstMessage(message_id="msg-2", text="how much is it"),
    ]
    text = "Zebras are striped\nhow much is it"
    alone = pb.ProcessingResult(normalized_text="Zebras are striped")

    assert client.generate(turn("Zebras are striped", processing=alone), TIMEOUT).intent == (
        "fallback"
    )
    assert client.generate(turn(text, processing=alone, burst=burst), TIMEOUT).intent == "prices"


def test_tenant_rules_replace_the_default_greeting_only(client: EngineClient) -> None:
    greeting = client.generate(turn("Olá", tenant_id="demo"), TIMEOUT)
    prices = client.generate(turn("prices?", tenant_id="demo"), TIMEOUT)

    assert [part.WhichOneof("kind") for part in greeting.parts] == ["text", "card"]
    assert greeting.parts[0].text == "Welcome to the Parley demo café!"
    assert as_json(greeting.parts[1].card) == {
        "title": "Today's special",
        "subtitle": "Flat white and a cinnamon bun",
        "image_url": "https://example.com/parley-demo/special.jpg",
        "buttons": [{"title": "See the menu", "url": "https://example.com/parley-demo/menu"}],
    }
    assert prices.intent == "prices"  # inherited from the default rules


def test_same_turn_gets_the_same_reply(client: EngineClient) -> None:
    request = turn("what does it cost?")

    replies = {client.generate(request, TIMEOUT).SerializeToString() for _ in range(3)}

    assert len(replies) == 1


def test_stream_sends_text_deltas_then_a_final_chunk(client: EngineClient) -> None:
    request = turn("thank you")

    chunks = list(client.stream(request, TIMEOUT))

    deltas = [chunk.text_delta for chunk in chunks[:-1]]
    assert deltas == ["You're ", "welcome!"]
    assert not any(chunk.final for chunk in chunks[:-1])
    final = chunks[-1]
    assert final.final
    assert final.response == client.generate(request, TIMEOUT)
    assert final.context_update == final.response.context_update


def test_stream_sends_rich_parts_whole(client: EngineClient) -> None:
    chunks = list(client.stream(turn("hello", tenant_id="demo"), TIMEOUT))

    kinds = [chunk.part.WhichOneof("kind") if chunk.HasField("part") else None for chunk in chunks]
    assert [c.text_delta for c in chunks[:5]] == ["Welcome ", "to ", "the ", "Parley ", "demo "]
    assert "".join(c.text_delta for c in chunks) == "Welcome to the Parley demo café!"
    assert kinds[-2:] == ["card", None]
    assert chunks[-1].final


def test_update_context_merges_and_returns_the_context(client: EngineClient) -> None:
    def update(**fields: Any) -> Any:
        request = pb.UpdateContextRequest(
            tenant_id="acme", conversation_id="conv-1", update=pb.ContextUpdate(**fields)
        )
        return as_json(client.update_context(request, TIMEOUT).context)

    first = pb.ContextUpdate()
    first.set.update({"name": "Ada", "cart": {"items": 2}})
    assert update(set=first.set) == {"name": "Ada", "cart": {"items": 2.0}}
    second = pb.ContextUpdate(unset=["cart"])
    second.set.update({"language": "en"})
    assert update(set=second.set, unset=second.unset) == {"name": "Ada", "language": "en"}


def test_stored_context_wins_over_the_session_context(client: EngineClient) -> None:
    stored = pb.UpdateContextRequest(tenant_id="acme", conversation_id="conv-1")
    stored.update.set.update({"turns": 7})
    client.update_context(stored, TIMEOUT)
    request = turn("hi")
    request.session_context.update({"turns": 2})

    reply = client.generate(request, TIMEOUT)

    assert reply.context_update.set["turns"] == 8.0


def test_context_is_kept_per_tenant(client: EngineClient) -> None:
    stored = pb.UpdateContextRequest(tenant_id="acme", conversation_id="conv-1")
    stored.update.set.update({"turns": 7})
    client.update_context(stored, TIMEOUT)

    reply = client.generate(turn("hi", tenant_id="other"), TIMEOUT)

    assert reply.context_update.set["turns"] == 1.0


def test_turn_without_tenant_is_a_permanent_error(client: EngineClient) -> None:
    with pytest.raises(PermanentError, match="INVALID_ARGUMENT: tenant_id and conversation_id"):
        client.generate(turn("hi", tenant_id=""), TIMEOUT)


def test_engine_reports_serving(client: EngineClient) -> None:
    assert client.is_serving()


def test_rules_file_with_an_empty_part_is_refused(tmp_path: Path) -> None:
    rules = {
        "default": {
            "greeting": {"name": "greeting", "keywords": ["hi"], "parts": [{}]},
            "fallback": {"parts": [{"text": "?"}]},
        }
    }
    path = rules_file(tmp_path, rules)

    with pytest.raises(ConfigurationError, match=r"default\.greeting\.parts\[0\]: .* needs a kind"):
        RulesBackend.from_file(path)


ORDER_TEXT = "Bonjour, je voudrais annuler ma commande 1234, écrivez-moi à jean@example.fr"


def processed(language: str, *entities: pb.Entity) -> pb.ProcessingResult:
    return pb.ProcessingResult(language=language, entities=entities)


def order_number(value: str) -> pb.Entity:
    return pb.Entity(type="order_number", text=value, value=value, start=41, end=45)


def test_a_cancellation_with_its_order_number_is_answered_in_french(client: EngineClient) -> None:
    email = pb.Entity(type="email", text="jean@example.fr", value="jean@example.fr")
    request = turn(ORDER_TEXT, processing=processed("fr", email, order_number("1234")))

    reply = client.generate(request, TIMEOUT)

    assert reply.intent == "cancel_order"  # before the greeting, as every intent
    assert [part.text for part in reply.parts] == [
        "Votre commande 1234 : j'ai bien noté votre demande d'annulation. "
        "Un membre de notre équipe vous la confirmera rapidement."
    ]


@pytest.mark.parametrize(
    ("text", "language", "asked"),
    [
        ("I want to cancel my order", "en", "Which order would you like to cancel?"),
        ("Je veux annuler ma commande", "fr", "Quelle commande souhaitez-vous annuler ?"),
        ("Quiero cancelar mi pedido", "es", "¿Qué pedido quieres cancelar?"),
        ("Ich möchte meine Bestellung stornieren", "de", "Welche Bestellung möchten Sie"),
    ],
)
def test_a_cancellation_without_an_order_number_asks_for_it(
    client: EngineClient, text: str, language: str, asked: str
) -> None:
    reply = client.generate(turn(text, processing=processed(language)), TIMEOUT)

    assert reply.intent == "cancel_order"
    assert reply.parts[0].text.startswith(asked)


def test_the_order_number_is_named_in_every_language(client: EngineClient) -> None:
    texts = {"en": "cancel order", "es": "cancelar pedido", "de": "Bestellung stornieren"}

    for language, text in texts.items():
        request = turn(text, processing=processed(language, order_number("98765")))
        reply = client.generate(request, TIMEOUT)

        assert "98765" in reply.parts[0].text, language
        assert "{order_number}" not in reply.parts[0].text


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("Bonjour", "fr", "Bonjour ! Comment puis-je vous aider aujourd'hui ?"),
        ("Hola", "es", "¡Hola! ¿En qué puedo ayudarte hoy?"),
        ("Hallo", "de", "Hallo! Wie kann ich Ihnen heute helfen?"),
        ("Hello", "en", "Hello! How can I help you today?"),
        ("Ciao", "it", "Hello! How can I help you today?"),  # a language the rules lack
        ("Olá", "", "Hello! How can I help you today?"),  # processing found none
    ],
)
def test_the_greeting_is_in_the_users_language(
    client: EngineClient, text: str, language: str, expected: str
) -> None:
    reply = client.generate(turn(text, processing=processed(language)), TIMEOUT)

    assert reply.intent == "greeting"
    assert reply.parts[0].quick_replies.text == expected


def test_quick_replies_opening_hours_and_the_fallback_are_translated(
    client: EngineClient,
) -> None:
    def reply(text: str, language: str) -> pb.GenerateResponse:
        return client.generate(turn(text, processing=processed(language)), TIMEOUT)

    french = reply("Bonjour", "fr").parts[0].quick_replies
    assert [(o.title, o.payload) for o in french.options] == [
        ("Horaires d'ouverture", "OPENING_HOURS"),
        ("Prix", "PRICES"),
        ("Parler à une personne", "HUMAN"),
    ]
    assert reply("Wann haben Sie geöffnet?", "de-AT").parts[0].text == (
        "Wir haben montags bis freitags von 9:00 bis 18:00 Uhr geöffnet."
    )
    assert reply("¿Cuál es su horario?", "es").parts[0].text == (
        "Abrimos de lunes a viernes, de 9:00 a 18:00."
    )
    fallback = reply("Les zèbres sont rayés", "fr")
    assert fallback.intent == "fallback"
    assert fallback.parts[0].quick_replies.text.startswith("Désolé, je n'ai pas compris.")


def test_a_rule_without_missing_matches_only_turns_with_its_entity(tmp_path: Path) -> None:
    rules = {
        "default": {
            "greeting": {"name": "greeting", "keywords": ["hi"], "parts": [{"text": "Hi"}]},
            "intents": [
                {
                    "name": "track",
                    "keywords": ["where"],
                    "entity": "booking",
                    "parts": [{"quick_replies": {"text": "Booking {booking}?", "options": []}}],
                }
            ],
            "fallback": {"parts": [{"text": "?"}]},
        }
    }
    path = rules_file(tmp_path, rules)
    backend = RulesBackend.from_file(path)
    booking = pb.Entity(type="booking", text="AB12")  # no parsed value: its text

    found = backend.generate(
        turn("where is it", processing=pb.ProcessingResult(entities=[booking]))
    )
    absent = backend.generate(turn("where is it"))

    assert (found.intent, found.parts[0].quick_replies.text) == ("track", "Booking AB12?")
    assert (absent.intent, absent.parts[0].text) == ("fallback", "?")


def test_a_reply_in_a_language_without_parts_is_refused(tmp_path: Path) -> None:
    rules = {
        "default": {
            "greeting": {"name": "greeting", "keywords": ["hi"], "parts": {"fr": []}},
            "fallback": {"parts": [{"text": "?"}]},
        }
    }
    path = rules_file(tmp_path, rules)

    with pytest.raises(ConfigurationError, match=r"greeting\.parts"):
        RulesBackend.from_file(path)


EVERY_KIND = [
    {"text": "Here is everything."},
    {"quick_replies": {"text": "Pick", "options": [{"title": "A", "payload": "A"}]}},
    {"media": {"url": "https://cdn.example.com/a.png", "mime_type": "image/png"}},
    {"card": {"title": "Shoe", "buttons": [{"title": "View", "url": "https://x.example/s"}]}},
    {
        "template": {
            "name": "order_shipped_v1",
            "language": "en_US",
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Ada"}]},
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "CONFIRM"}],
                },
            ],
        }
    },
    {"location": {"latitude": 0, "longitude": -0.1276, "name": "Greenwich"}},
    {
        "buttons": {
            "text": "Call or click",
            "buttons": [
                {"title": "Call", "phone": "+15550100100"},
                {"title": "Site", "url": "https://x.example"},
                {"title": "Later", "payload": "LATER"},
            ],
        }
    },
    {"list": {"text": "Slots", "button": "Choose", "items": [{"title": "9:00", "payload": "9"}]}},
    {"file": {"url": "https://cdn.example.com/m.pdf", "filename": "m.pdf", "caption": "Menu"}},
]


def test_a_rule_can_answer_with_every_kind_of_reply_part(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    rules = {
        "default": {
            "greeting": {"name": "greeting", "keywords": ["hi"], "parts": EVERY_KIND},
            "fallback": {"parts": [{"text": "?"}]},
        }
    }
    client = start_engine(RulesBackend.from_file(rules_file(tmp_path, rules)))

    reply = client.generate(turn("hi"), timeout=TIMEOUT)

    expected = [{"type": "text", "text": "Here is everything."}] + [
        {"type": kind, **body} for part in EVERY_KIND[1:] for kind, body in part.items()
    ]
    expected[5] = expected[5] | {"latitude": 0.0}  # the equator is kept, not dropped as unset
    assert reply_parts(reply) == expected


def test_a_part_with_a_field_its_kind_lacks_is_refused_with_where_it_is(tmp_path: Path) -> None:
    rules = {
        "default": {
            "greeting": {"name": "greeting", "keywords": ["hi"], "parts": [{"text": "Hi"}]},
            "fallback": {"parts": [{"text": "?"}, {"location": {"lat": 1.0, "lng": 2.0}}]},
        }
    }
    path = rules_file(tmp_path, rules)

    with pytest.raises(ConfigurationError, match=r"fallback\.parts\[1\].*lat"):
        RulesBackend.from_file(path)
