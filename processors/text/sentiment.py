"""The sentiment processor: VADER's compound score and label for English messages.

VADER's lexicon is English (it ships in the package's wheel, nothing is downloaded). A message
in another language is not translated: its result is ``{"label": "neutral", "score": 0.0,
"method": "unsupported-language"}``, so the engine can tell "not measured" from "neutral". A
message without a language result (the language processor disabled or failed) is read as
English. Labels follow VADER's own thresholds: compound >= 0.05 positive, <= -0.05 negative.
"""

from __future__ import annotations

from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from processors.base import Kind, Stage, Work
from processors.text.language import message_language

POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()  # reads its lexicon once per process


def label(score: float) -> str:
    if score >= POSITIVE_AT:
        return "positive"
    return "negative" if score <= NEGATIVE_AT else "neutral"


class SentimentProcessor:
    name = "sentiment"
    stage = Stage.ANALYSIS
    kinds = frozenset({Kind.TEXT})

    def run(self, work: Work) -> None:
        if (message_language(work) or "en") != "en":
            work.results[self.name] = {
                "label": "neutral",
                "score": 0.0,
                "method": "unsupported-language",
            }
            return
        score = round(float(_analyzer().polarity_scores(work.text)["compound"]), 4)
        work.results[self.name] = {"label": label(score), "score": score, "method": "vader"}
