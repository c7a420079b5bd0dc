"""Refuses a message nothing can answer: no text and nothing attached, or text past any channel's
size, so no processor or engine spends time on it."""

from __future__ import annotations

from processors.base import Kind, Refused, Stage, Work
from processors.normalise.content import clean

# Above every channel's own limit (Slack's 40 000 is the largest, see content.CHANNEL_LIMITS):
# a text this long did not come from a person typing.
HARD_LIMIT_CHARS = 50_000
EMPTY_REPLY = "I received an empty message. Could you write it again?"
TOO_LONG_REPLY = "That message is too long for me to read. Could you make it shorter?"
# What a message of each kind must carry besides text.
_CARRIES: dict[Kind, tuple[str, ...]] = {
    Kind.MEDIA: ("url", "media_id", "attachments"),  # a provider's file, or web uploads
    Kind.LOCATION: ("latitude", "longitude"),
}


class Validation:
    name = "validation"
    stage = Stage.VALIDATION
    kinds = frozenset(Kind)

    def run(self, work: Work) -> None:
        if len(work.text) > HARD_LIMIT_CHARS:
            raise Refused("invalid", TOO_LONG_REPLY)
        needed = _CARRIES.get(work.kind)
        if needed is None:
            if not clean(work.text):  # nothing visible, not even after clean-up
                raise Refused("invalid", EMPTY_REPLY)
        elif not any(work.content.get(key) not in (None, "", []) for key in needed):
            raise Refused("invalid", EMPTY_REPLY)


VALIDATION = Validation()
