"""The deterministic rules backend: per-tenant keyword intents read from a JSON file.

The file holds a ``default`` rule set and optional per-tenant ones under ``tenants``; a tenant's
``greeting``, ``intents`` or ``fallback`` replace the default's, key by key. Replies are written
as ``ReplyPart`` messages in protobuf JSON form: ``parts`` is one list for every language, or one
list per language code (``{"en": [...], "fr": [...]}``); the turn's language is the request's
``processing.language``, and a language the rule lacks gets its ``en`` parts (else its first).
An intent may name an ``entity`` type: ``{<type>}`` in its parts is the value of the request's
first entity of that type, and ``missing`` is the reply when there is none (without ``missing``,
the intent matches only turns that have the entity). Matching compares whole words of the
case-folded, accent-free text: intents in file order first, then the greeting, else the
fallback. Every reply sets ``last_intent`` and counts ``turns`` in the context update, plus the
rule's own ``context``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigurationError
from protos import mcp_engine_pb2
from services.mcp_engine.language import turn_language

DEFAULT_RULES_FILE = Path(__file__).with_name("default_rules.json")


def normalise(text: str) -> str:
    """Case-folded words without accents, joined by single spaces: "Olá, MUNDO!" → "ola mundo"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.findall(r"\w+", bare))


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


DEFAULT_LANGUAGE = "en"  # the language of a turn whose language is unknown

PartList = Annotated[list[dict[str, Any]], Field(min_length=1)]
# One reply for every language, or one per language code.
LocalisedParts = PartList | Annotated[dict[str, PartList], Field(min_length=1)]


class ReplyRule(_Strict):
    parts: LocalisedParts
    context: dict[str, Any] = Field(default_factory=dict)


class IntentRule(ReplyRule):
    name: str = Field(min_length=1)
    keywords: list[str] = Field(min_length=1)
    entity: str | None = Field(default=None, min_length=1)
    missing: LocalisedParts | None = None


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


Parts = tuple[mcp_engine_pb2.ReplyPart, ...]


@dataclass(frozen=True)
class Localised:
    """A reply's parts per language code."""

    by_language: Mapping[str, Parts]

    def parts_in(self, language: str) -> Parts:
        parts = self.by_language.get(language) or self.by_language.get(DEFAULT_LANGUAGE)
        return parts or next(iter(self.by_language.values()))


@dataclass(frozen=True)
class Reply:
    """One compiled rule: what to answer, and what to remember."""

    intent: str
    confidence: float
    replies: Localised
    context: Mapping[str, Any]
    keywords: tuple[str, ...] = ()
    entity: str | None = None
    missing: Localised | None = None

    def matches(self, words: str, entities: Mapping[str, str]) -> bool:
        if self.entity is not None and self.missing is None and self.entity not in entities:
            return False
        padded = f" {words} "
        return any(f" {keyword} " in padded for keyword in self.keywords)

    def parts(self, language: str, entities: Mapping[str, str]) -> Parts:
        """The reply in ``language``, with the rule's entity filled in (or asked for)."""
        if self.entity is None:
            return self.replies.parts_in(language)
        value = entities.get(self.entity)
        if value is None:  # only an intent with ``missing`` matches such a turn
            return (self.missing or self.replies).parts_in(language)
        placeholder = "{" + self.entity + "}"
        return tuple(_filled(part, placeholder, value) for part in self.replies.parts_in(language))


@dataclass(frozen=True)
class RuleSet:
    """A tenant's compiled rules, in matching order."""

    intents: tuple[Reply, ...]
    fallback: Reply

    def reply_to(self, text: str, entities: Mapping[str, str]) -> Reply:
        words = normalise(text)
        matching = (intent for intent in self.intents if intent.matches(words, entities))
        return next(matching, self.fallback)


def _filled(
    part: mcp_engine_pb2.ReplyPart, placeholder: str, value: str
) -> mcp_engine_pb2.ReplyPart:
    def fill(node: Any) -> Any:
        if isinstance(node, str):
            return node.replace(placeholder, value)
        if isinstance(node, list):
            return [fill(item) for item in node]
        if isinstance(node, dict):
            return {key: fill(item) for key, item in node.items()}
        return node

    filled = mcp_engine_pb2.ReplyPart()
    json_format.ParseDict(fill(json_format.MessageToDict(part)), filled)
    return filled


def _compile_parts(raw_parts: list[dict[str, Any]], where: str) -> Parts:
    parts = []
    for index, raw in enumerate(raw_parts):
        part = mcp_engine_pb2.ReplyPart()
        try:
            json_format.ParseDict(raw, part)
        except json_format.ParseError as exc:
            raise ConfigurationError(f"{where}[{index}]: {exc}") from None
        if part.WhichOneof("kind") is None:
            raise ConfigurationError(f"{where}[{index}]: a reply part needs a kind")
        parts.append(part)
    return tuple(parts)


def _localised(
    raw: list[dict[str, Any]] | dict[str, list[dict[str, Any]]], where: str
) -> Localised:
    if isinstance(raw, list):
        return Localised({DEFAULT_LANGUAGE: _compile_parts(raw, where)})
    return Localised(
        {language: _compile_parts(parts, f"{where}.{language}") for language, parts in raw.items()}
    )


def _compile(rule: ReplyRule, where: str) -> Reply:
    replies = _localised(rule.parts, f"{where}.parts")
    if isinstance(rule, IntentRule):
        keywords = tuple(word for word in map(normalise, rule.keywords) if word)
        if not keywords:
            raise ConfigurationError(f"{where}.keywords: no keyword has a word in it")
        missing = None if rule.missing is None else _localised(rule.missing, f"{where}.missing")
        return Reply(rule.name, 1.0, replies, rule.context, keywords, rule.entity, missing)
    return Reply("fallback", 0.0, replies, rule.context)


def _rule_set(base: DefaultRuleSet, override: RuleSetOverride, where: str) -> RuleSet:
    greeting = override.greeting or base.greeting
    intents = base.intents if override.intents is None else override.intents
    fallback = override.fallback or base.fallback
    compiled = [_compile(rule, f"{where}.intents[{i}]") for i, rule in enumerate(intents)]
    compiled.append(_compile(greeting, f"{where}.greeting"))
    return RuleSet(tuple(compiled), _compile(fallback, f"{where}.fallback"))


def turn_entities(request: mcp_engine_pb2.GenerateRequest) -> dict[str, str]:
    """Each entity type's first value in the text (its text, when it has no parsed value); for a
    burst, in the first of its messages that has one."""
    entities: dict[str, str] = {}
    results = [m.processing for m in request.burst] or [request.processing]
    for entity in (entity for result in results for entity in result.entities):
        entities.setdefault(entity.type, entity.value or entity.text)
    return entities


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
        entities = turn_entities(request)
        # A burst's text is all of its messages' (protos/mcp_engine.proto).
        text = request.text if request.burst else request.processing.normalized_text
        reply = rules.reply_to(text or request.text, entities)
        response = mcp_engine_pb2.GenerateResponse(
            intent=reply.intent,
            confidence=reply.confidence,
            backend="rules",
            parts=reply.parts(turn_language(request) or DEFAULT_LANGUAGE, entities),
        )
        previous = request.session_context.fields.get("turns")
        turns = int(previous.number_value) if previous is not None else 0
        changes = response.context_update.set
        changes.update(reply.context)
        changes.update({"last_intent": reply.intent, "turns": turns + 1})
        return response

    def close(self) -> None:
        """Nothing to release: the rules live in memory."""
