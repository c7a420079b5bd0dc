"""The deterministic rules backend: per-tenant keyword intents read from a JSON file.

The file holds a ``default`` rule set and optional per-tenant ones under ``tenants``; a tenant's
``greeting``, ``intents`` or ``fallback`` replace the default's, key by key. Replies are written
as ``ReplyPart`` messages in protobuf JSON form. Matching compares whole words of the case-folded,
accent-free text: intents in file order first, then the greeting, else the fallback. Every reply
sets ``last_intent`` and counts ``turns`` in the context update, plus the rule's own ``context``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigurationError
from protos import mcp_engine_pb2

DEFAULT_RULES_FILE = Path(__file__).with_name("default_rules.json")


def normalise(text: str) -> str:
    """Case-folded words without accents, joined by single spaces: "Olá, MUNDO!" → "ola mundo"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.findall(r"\w+", bare))


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReplyRule(_Strict):
    parts: list[dict[str, Any]] = Field(min_length=1)
    context: dict[str, Any] = Field(default_factory=dict)


class IntentRule(ReplyRule):
    name: str = Field(min_length=1)
    keywords: list[str] = Field(min_length=1)


class RuleSetOverride(_Strict):
    greeting: IntentRule | None = None
    intents: list[IntentRule] | None = None
    fallback: ReplyRule | None = None


class DefaultRuleSet(_Strict):
    greeting: IntentRule
    intents: list[IntentRule] = Field(default_factory=list)
    fallback: ReplyRule


class RulesFile(_Strict):
    default: DefaultRuleSet
    tenants: dict[str, RuleSetOverride] = Field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """One compiled rule: what to answer, and what to remember."""

    intent: str
    confidence: float
    parts: tuple[mcp_engine_pb2.ReplyPart, ...]
    context: Mapping[str, Any]
    keywords: tuple[str, ...] = ()

    def matches(self, words: str) -> bool:
        padded = f" {words} "
        return any(f" {keyword} " in padded for keyword in self.keywords)


@dataclass(frozen=True)
class RuleSet:
    """A tenant's compiled rules, in matching order."""

    intents: tuple[Reply, ...]
    fallback: Reply

    def reply_to(self, text: str) -> Reply:
        words = normalise(text)
        return next((intent for intent in self.intents if intent.matches(words)), self.fallback)


def _compile(rule: ReplyRule, where: str) -> Reply:
    parts = []
    for index, raw in enumerate(rule.parts):
        part = mcp_engine_pb2.ReplyPart()
        try:
            json_format.ParseDict(raw, part)
        except json_format.ParseError as exc:
            raise ConfigurationError(f"{where}.parts[{index}]: {exc}") from None
        if part.WhichOneof("kind") is None:
            raise ConfigurationError(f"{where}.parts[{index}]: a reply part needs a kind")
        parts.append(part)
    if isinstance(rule, IntentRule):
        keywords = tuple(word for word in map(normalise, rule.keywords) if word)
        if not keywords:
            raise ConfigurationError(f"{where}.keywords: no keyword has a word in it")
        return Reply(rule.name, 1.0, tuple(parts), rule.context, keywords)
    return Reply("fallback", 0.0, tuple(parts), rule.context)


def _rule_set(base: DefaultRuleSet, override: RuleSetOverride, where: str) -> RuleSet:
    greeting = override.greeting or base.greeting
    intents = base.intents if override.intents is None else override.intents
    fallback = override.fallback or base.fallback
    compiled = [_compile(rule, f"{where}.intents[{i}]") for i, rule in enumerate(intents)]
    compiled.append(_compile(greeting, f"{where}.greeting"))
    return RuleSet(tuple(compiled), _compile(fallback, f"{where}.fallback"))


class RulesBackend:
    """Answers from compiled rules; the same request always gets the same reply."""

    def __init__(self, rules: RulesFile) -> None:
        self._default = _rule_set(rules.default, RuleSetOverride(), "default")
        self._tenants = {
            tenant: _rule_set(rules.default, override, f"tenants.{tenant}")
            for tenant, override in rules.tenants.items()
        }

    @classmethod
    def from_file(cls, path: Path = DEFAULT_RULES_FILE) -> RulesBackend:
        """Loads and checks a rules file; any problem is a ``ConfigurationError`` naming it."""
        try:
            return cls(RulesFile.model_validate(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, ValidationError, ConfigurationError) as exc:
            raise ConfigurationError(f"engine rules file {path}: {exc}") from None

    def generate(self, request: mcp_engine_pb2.GenerateRequest) -> mcp_engine_pb2.GenerateResponse:
        rules = self._tenants.get(request.tenant_id, self._default)
        reply = rules.reply_to(request.processing.normalized_text or request.text)
        response = mcp_engine_pb2.GenerateResponse(
            intent=reply.intent, confidence=reply.confidence, backend="rules", parts=reply.parts
        )
        previous = request.session_context.fields.get("turns")
        turns = int(previous.number_value) if previous is not None else 0
        changes = response.context_update.set
        changes.update(reply.context)
        changes.update({"last_intent": reply.intent, "turns": turns + 1})
        return response

    def close(self) -> None:
        """Nothing to release: the rules live in memory."""
