"""The entities processor: contacts, dates, amounts, tenant patterns, overlaps."""

from __future__ import annotations

from typing import Any

import pytest

from processors.base import ProcessorError, Work
from processors.text.entities import EntitiesProcessor
from processors.text.language import LanguageProcessor
from tests.processors.text_work import options, text_work

ORDER_NUMBER = {"name": "order_number", "regex": r"\b\d{4,8}\b"}


def entities(work: Work, *, with_language: bool = True) -> list[dict[str, Any]]:
    if with_language:
        LanguageProcessor().run(work)
    EntitiesProcessor().run(work)
    return work.results["entities"]


def found(text: str, **config: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(e["type"], e["value"]) for e in entities(text_work(text, config=options(**config)))]


def test_the_acceptance_sentence_yields_the_email_and_the_order_number() -> None:
    text = "Bonjour, je voudrais annuler ma commande 1234, écrivez-moi à jean@example.fr"
    result = entities(text_work(text, config=options(entities={"patterns": [ORDER_NUMBER]})))
    assert result == [
        {"type": "order_number", "text": "1234", "value": "1234", "start": 41, "end": 45},
        {
            "type": "email",
            "text": "jean@example.fr",
            "value": "jean@example.fr",
            "start": 61,
            "end": 76,
        },
    ]


def test_a_url_loses_the_sentences_punctuation() -> None:
    assert found("Look at https://shop.example/a?b=1. Or www.shop.example!") == [
        ("url", "https://shop.example/a?b=1"),
        ("url", "http://www.shop.example"),
    ]


def test_a_national_phone_number_is_read_in_the_tenants_region() -> None:
    text = "Rappelez-moi au 06 12 34 56 78 svp"
    assert found(text, entities={"region": "FR"}) == [("phone", "+33612345678")]
    assert found(text) == []  # without a region a national number is ambiguous


def test_a_whatsapp_users_own_number_gives_the_region() -> None:
    work = text_work(
        "Call me on 020 7946 0958", channel="whatsapp", metadata={"user_id": "447700900123"}
    )
    assert [(e["type"], e["value"]) for e in entities(work)] == [("phone", "+442079460958")]


def test_an_international_number_needs_no_region() -> None:
    assert found("my number is +49 30 901820 thanks") == [("phone", "+4930901820")]


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("Je passe demain à 10h", "2025-03-15T10:00:00+00:00"),
        ("Can we meet next Friday at 3pm?", "2025-03-21T15:00:00+00:00"),
    ],
)
def test_a_relative_date_is_resolved_against_the_message_time(text: str, when: str) -> None:
    assert found(text) == [("datetime", when)]


def test_a_date_is_read_in_the_tenants_time_zone() -> None:
    result = found("Je passe demain à 10h", entities={"timezone": "Europe/Paris"})
    assert result == [("datetime", "2025-03-15T10:00:00+01:00")]


def test_plain_numbers_and_short_words_are_not_dates() -> None:
    # dateparser alone reads "je" as jeudi, "ma" as mardi and 1234 as a year
    assert found("je voudrais ma commande 1234") == []


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("Ça coûte 1 250,50 € en tout", "1250.50", "EUR"),
        ("it was $12.99 in the shop", "12.99", "USD"),
        ("le total: EUR 12", "12", "EUR"),
        ("about 30 GBP or so", "30", "GBP"),
        ("£1,250.00 deposit", "1250.00", "GBP"),
        ("cuesta 9,5€", "9.5", "EUR"),
    ],
)
def test_amounts_carry_their_currency(text: str, amount: str, currency: str) -> None:
    assert found(text) == [("amount", {"amount": amount, "currency": currency})]


def test_a_tenant_pattern_with_a_group_takes_the_group_as_value() -> None:
    booking = {"name": "booking", "regex": r"\bREF-([A-Z0-9]{6})\b"}
    assert found("my booking REF-AB12CD", entities={"patterns": [booking]}) == [
        ("booking", "AB12CD")
    ]


def test_overlapping_entities_keep_the_longest() -> None:
    # the order-number pattern matches inside the phone number; the phone is longer
    result = found(
        "call +33 6 12 34 56 78", entities={"patterns": [{"name": "code", "regex": r"\d{2}"}]}
    )
    assert result == [("phone", "+33612345678")]


def test_entities_are_sorted_by_start() -> None:
    work = text_work(
        "mail a@b.example, order 98765, site https://x.example",
        config=options(entities={"patterns": [ORDER_NUMBER]}),
    )
    starts = [e["start"] for e in entities(work)]
    assert starts == sorted(starts) and len(starts) == 3


@pytest.mark.parametrize(
    "pattern",
    [
        {"name": "Bad Name", "regex": r"\d+"},
        {"name": "email", "regex": r"\d+"},
        {"name": "long", "regex": "a" * 201},
        {"name": "broken", "regex": "(unclosed"},
    ],
)
def test_an_invalid_tenant_pattern_fails_the_processor(pattern: dict[str, str]) -> None:
    with pytest.raises(ProcessorError):
        found("some text 1234", entities={"patterns": [pattern]})


def test_a_tenant_pattern_that_backtracks_without_end_fails_instead_of_holding_the_worker() -> None:
    with pytest.raises(ProcessorError, match="ran out of time"):
        found("x" * 5000, entities={"patterns": [{"name": "slow", "regex": r"(x+x+)+y"}]})


def test_without_a_language_result_dates_are_read_in_the_tenants_languages() -> None:
    work = text_work("Je passe demain à 10h", config=options(language={"languages": ["fr", "en"]}))
    assert [e["type"] for e in entities(work, with_language=False)] == ["datetime"]
