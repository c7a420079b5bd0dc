"""The safety processor: PII, abuse, profanity, prompt injection and blocked links, each
category handled as the tenant's policy says (``docs/processing.md``).

    allow   not flagged
    flag    in ``flags``, the text goes on as it is
    redact  in ``flags``; ``work.engine_text`` is ``work.text`` with a placeholder there
    block   in ``flags``; raises ``Refused("policy:<category>", reply)``

The overall ``action`` is the strongest of the flags. A policy value that is not one of the
four falls back to the category's default, so a typo never weakens the policy. Neither the
text nor anything found in it is ever logged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from processors.base import Kind, Refused, Stage, Work
from processors.text.abuse import find_conduct
from processors.text.contacts import find_emails, find_phones, find_urls, link_host, phone_region
from processors.text.language import message_language
from processors.text.pii import find_cards, find_ibans
from processors.text.spans import without_overlaps

ACTIONS = ("allow", "flag", "redact", "block")  # weakest first
DEFAULT_POLICY = {
    "card": "redact",
    "iban": "redact",
    "email": "flag",
    "phone": "flag",
    "abuse": "flag",
    "profanity": "flag",
    "prompt_injection": "flag",
    "blocked_link": "block",
}
PLACEHOLDERS = {
    "card": "[card]",
    "iban": "[iban]",
    "email": "[email]",
    "phone": "[phone]",
    "blocked_link": "[link]",
    "abuse": "[abuse]",
    "profanity": "[profanity]",
    "prompt_injection": "[removed]",
}
BLOCK_REPLIES = {
    "en": "Sorry, I can't pass this message on. Please rephrase it.",
    "fr": "Désolé, je ne peux pas transmettre ce message. Merci de le reformuler.",
    "es": "Lo siento, no puedo transmitir este mensaje. Por favor, reformúlalo.",
    "de": "Entschuldigung, diese Nachricht kann ich nicht weitergeben. Bitte formuliere sie neu.",
    "it": "Mi dispiace, non posso inoltrare questo messaggio. Per favore, riformulalo.",
    "pt": "Desculpe, não posso transmitir esta mensagem. Por favor, reformule-a.",
    "nl": "Sorry, dit bericht kan ik niet doorgeven. Formuleer het alstublieft anders.",
}
_DOMAIN = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")

Flag = dict[str, Any]


@lru_cache(maxsize=256)
def _bare_domains(domains: tuple[str, ...]) -> re.Pattern[str] | None:
    """A blocked domain or any subdomain written without a scheme ("evil.example/x")."""
    if not domains:
        return None
    names = "|".join(re.escape(d) for d in domains)
    return re.compile(rf"(?<![\w.@-])(?:[\w-]+\.)*(?:{names})(?!\.?[\w-])(?:/\S*)?", re.IGNORECASE)


def _blocked_domains(safety: Mapping[str, Any]) -> tuple[str, ...]:
    listed = safety.get("blocked_domains") or []
    cleaned = (str(d).strip().lower().lstrip("*.") for d in listed)
    return tuple(sorted({d for d in cleaned if _DOMAIN.fullmatch(d)}))


def _blocked_links(text: str, domains: tuple[str, ...]) -> list[tuple[int, int]]:
    def blocked(host: str) -> bool:
        return any(host == d or host.endswith("." + d) for d in domains)

    spans = [(u["start"], u["end"]) for u in find_urls(text) if blocked(link_host(u["value"]))]
    bare = _bare_domains(domains)
    if bare is not None:
        spans += [(m.start(), m.end()) for m in bare.finditer(text)]
    return spans


def _identifiers(work: Work, domains: tuple[str, ...]) -> list[tuple[str, int, int]]:
    """Cards, IBANs, emails, phones and blocked links: one reading per stretch of text (an
    IBAN's digits are no phone number), the longest kept."""
    text = work.text
    found = [
        *(("card", s, e) for s, e in find_cards(text)),
        *(("iban", s, e) for s, e in find_ibans(text)),
        *(("blocked_link", s, e) for s, e in _blocked_links(text, domains)),
        *(("email", m["start"], m["end"]) for m in find_emails(text)),
        *(("phone", m["start"], m["end"]) for m in find_phones(text, phone_region(work))),
    ]
    return without_overlaps(found, lambda f: (f[1], f[2]))


def _policy(safety: Mapping[str, Any]) -> dict[str, str]:
    chosen = safety.get("policy") or {}
    policy = dict(DEFAULT_POLICY)
    for category in policy:
        if chosen.get(category) in ACTIONS:
            policy[category] = str(chosen[category])
    return policy


def redacted(text: str, flags: list[Flag]) -> str:
    """``text`` with each redacted flag's span replaced, right to left so offsets hold."""
    spans = without_overlaps(
        (f for f in flags if f["action"] == "redact"), lambda f: (f["start"], f["end"])
    )
    for flag in reversed(spans):
        text = text[: flag["start"]] + PLACEHOLDERS[flag["category"]] + text[flag["end"] :]
    return text


class SafetyProcessor:
    name = "safety"
    stage = Stage.ANALYSIS
    kinds = frozenset({Kind.TEXT, Kind.INTERACTIVE})

    def run(self, work: Work) -> None:
        safety = work.config.get("safety") or {}
        policy = _policy(safety)
        found = [*_identifiers(work, _blocked_domains(safety)), *find_conduct(work.text)]
        flags: list[Flag] = sorted(
            (
                {"category": category, "start": start, "end": end, "action": policy[category]}
                for category, start, end in found
                if policy[category] != "allow"
            ),
            key=lambda f: (f["start"], f["end"]),
        )
        action = max((f["action"] for f in flags), key=ACTIONS.index, default="allow")
        work.results[self.name] = {"flags": flags, "action": action}
        if any(f["action"] == "redact" for f in flags):  # a refused message is stored redacted too
            work.engine_text = redacted(work.text, flags)
        if action == "block":
            first = next(f for f in flags if f["action"] == "block")
            raise Refused(f"policy:{first['category']}", self._block_reply(work, safety))

    @staticmethod
    def _block_reply(work: Work, safety: Mapping[str, Any]) -> str:
        if isinstance(safety.get("block_reply"), str) and safety["block_reply"]:
            return str(safety["block_reply"])
        language = message_language(work) or work.last_language or "en"
        return BLOCK_REPLIES.get(language, BLOCK_REPLIES["en"])
