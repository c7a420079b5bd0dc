"""The language processor: lingua's detection, the tenant's languages, short-text fallbacks."""

from __future__ import annotations

import pytest

from processors.base import ProcessorError
from processors.text.language import LanguageProcessor, _detector, preload
from tests.processors.text_work import options, text_work

ACCEPTANCE = "Bonjour, je voudrais annuler ma commande 1234, écrivez-moi à jean@example.fr"


def detect(text: str, **fields: object) -> dict[str, object]:
    work = text_work(text, **fields)  # type: ignore[arg-type]
    LanguageProcessor().run(work)
    return work.results["language"]


def test_the_acceptance_sentence_is_french_with_lingua_confidence() -> None:
    found = detect(ACCEPTANCE)
    assert found["code"] == "fr"
    assert found["source"] == "detected"
    assert 0.5 <= found["confidence"] <= 1.0  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Hello, I would like to cancel my order please", "en"),
        ("Je voudrais changer l'adresse de livraison de mon colis", "fr"),
        ("Hola, quiero cancelar mi pedido de la semana pasada", "es"),
        ("Hallo, ich möchte meine Bestellung stornieren, bitte", "de"),
    ],
)
def test_each_language_is_detected(text: str, code: str) -> None:
    assert detect(text)["code"] == code


def test_a_short_text_takes_the_conversations_language() -> None:
    assert detect("ok merci", last_language="fr") == {
        "code": "fr",
        "confidence": 0.0,
        "source": "conversation",
    }


def test_a_short_text_without_a_conversation_language_takes_the_default() -> None:
    assert detect("ok")["source"] == "default"
    assert detect("ok")["code"] == "en"
    assert detect("ok", config=options(language={"default": "de"}))["code"] == "de"


def test_a_detection_under_the_tenants_min_confidence_falls_back() -> None:
    config = options(language={"min_confidence": 1.01})
    found = detect(ACCEPTANCE, config=config, last_language="es")
    assert (found["code"], found["source"]) == ("es", "conversation")


def test_detection_is_restricted_to_the_tenants_languages() -> None:
    # Portuguese text, but the tenant only expects Spanish and English
    config = options(language={"languages": ["es", "en"]})
    assert detect("Obrigado, eu gostaria de cancelar o meu pedido", config=config)["code"] == "es"


def test_an_unknown_language_code_fails_the_processor() -> None:
    with pytest.raises(ProcessorError):
        detect(ACCEPTANCE, config=options(language={"languages": ["fr", "xx"]}))


def test_preloading_builds_the_detector_the_default_languages_use() -> None:
    preload()
    hits = _detector.cache_info().hits
    detect("Hello, I would like to cancel my order please")
    assert _detector.cache_info().hits == hits + 1
