"""The sentiment processor: VADER for English, a stated non-result for other languages."""

from __future__ import annotations

from typing import Any

import pytest

from processors.text.language import LanguageProcessor
from processors.text.sentiment import SentimentProcessor
from tests.processors.text_work import text_work


def sentiment(text: str, *, with_language: bool = True) -> dict[str, Any]:
    work = text_work(text)
    if with_language:
        LanguageProcessor().run(work)
    SentimentProcessor().run(work)
    return work.results["sentiment"]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Thank you so much, the delivery was great and fast!", "positive"),
        ("This is terrible, my parcel is broken and nobody helps me", "negative"),
        ("The parcel left the warehouse on Tuesday", "neutral"),
    ],
)
def test_english_gets_vaders_label_and_score(text: str, label: str) -> None:
    found = sentiment(text)
    assert (found["label"], found["method"]) == (label, "vader")
    assert -1.0 <= found["score"] <= 1.0
    assert (found["score"] > 0) == (label == "positive")


def test_another_language_is_not_measured_and_says_so() -> None:
    found = sentiment("C'est vraiment horrible, mon colis est cassé et personne ne m'aide")
    assert found == {"label": "neutral", "score": 0.0, "method": "unsupported-language"}


def test_without_a_language_result_the_text_is_read_as_english() -> None:
    assert sentiment("I love it, wonderful", with_language=False)["label"] == "positive"
