"""One canonical text for every channel's inbound: an e-mail style signature and the quoted
reply a channel marks are removed, and the result says what went."""

from __future__ import annotations

import re

from processors.base import Kind, Stage, Work

# "-- " on a line of its own starts a signature (RFC 3676 §4.3); everything after it goes.
_SIGNATURE = re.compile(r"(?:^|\n)-- ?\n.*\Z", re.DOTALL)
# Teams marks a reply's quote as a blockquote in the activity's HTML text.
_TEAMS_QUOTE = re.compile(r"<blockquote\b[^>]*>.*?</blockquote>", re.DOTALL | re.IGNORECASE)
# Lines quoted at the start ("> ", Slack's mrkdwn quote and e-mail's), before the reply itself.
_LEADING_QUOTE = re.compile(r"\A(?:[ \t]*>[^\n]*(?:\n|\Z))+")


class MessageNormaliser:
    name = "message"
    stage = Stage.NORMALISATION
    kinds = frozenset({Kind.TEXT, Kind.INTERACTIVE})

    def run(self, work: Work) -> None:
        text, removed = work.text, list[str]()
        if work.channel == "teams" and _TEAMS_QUOTE.search(text):
            text, removed = _TEAMS_QUOTE.sub("", text), [*removed, "quote"]
        if _LEADING_QUOTE.match(text):
            text, removed = _LEADING_QUOTE.sub("", text), [*removed, "quote"]
        if _SIGNATURE.search(text):
            text, removed = _SIGNATURE.sub("", text), [*removed, "signature"]
        # A message that was all quote or signature keeps its text: there is nothing else.
        if text.strip():
            work.text = text.strip()
        else:
            removed = []
        work.results[self.name] = {"removed": sorted(set(removed))}


MESSAGE = MessageNormaliser()
