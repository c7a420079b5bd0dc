"""A tenant's ``processing`` config: the defaults, written once, the tenant's settings merged
over them, and the checks the admin API applies before storing them (``docs/processing.md``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from core.errors import ParleyError

DEFAULT_TIMEOUT_MS = 500
POLICIES = ("allow", "flag", "redact", "block")
SAFETY_CATEGORIES = (
    "card",
    "iban",
    "email",
    "phone",
    "abuse",
    "profanity",
    "prompt_injection",
    "blocked_link",
)
MAX_PATTERN_CHARS = 200  # a tenant's regex runs on every message: kept short
MAX_PATTERNS = 20
MAX_PRECISION = 6  # decimals of a coordinate: 6 is about 10 cm

DEFAULTS: dict[str, Any] = {
    "processors": {},
    "safety": {
        "policy": {
            "card": "redact",
            "iban": "redact",
            "email": "allow",
            "phone": "allow",
            "abuse": "flag",
            "profanity": "flag",
            "prompt_injection": "flag",
            "blocked_link": "block",
        },
        "blocked_domains": [],
        "block_reply": "Sorry, I can't help with that message.",
        "keep_original": False,
    },
    "timeout_ms": DEFAULT_TIMEOUT_MS,
}


class InvalidConfig(ParleyError, ValueError):
    """A tenant's ``processing`` settings that cannot be applied; the message says which."""


def merged(
    config: Mapping[str, Any] | None, defaults: Mapping[str, Any] = DEFAULTS
) -> dict[str, Any]:
    """``config`` over ``defaults``: mappings merge key by key, anything else replaces."""
    result: dict[str, Any] = dict(defaults)
    for key, value in (config or {}).items():
        base = result.get(key)
        if isinstance(base, Mapping) and isinstance(value, Mapping):
            result[key] = merged(value, base)
        else:
            result[key] = value
    return result


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidConfig(f"{where} must be an object")
    return value


def _positive_int(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidConfig(f"{where} must be a positive integer")


def _check_patterns(patterns: Any) -> None:
    if not isinstance(patterns, list) or len(patterns) > MAX_PATTERNS:
        raise InvalidConfig(f"processors.entities.patterns takes at most {MAX_PATTERNS}")
    for i, pattern in enumerate(patterns):
        where = f"processors.entities.patterns[{i}]"
        pattern = _mapping(pattern, where)
        name, regex = pattern.get("name"), pattern.get("regex")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
            raise InvalidConfig(f"{where}.name must be a lower-case identifier")
        if not isinstance(regex, str) or not 0 < len(regex) <= MAX_PATTERN_CHARS:
            raise InvalidConfig(f"{where}.regex must be 1 to {MAX_PATTERN_CHARS} characters")
        try:
            re.compile(regex)
        except re.error as exc:
            raise InvalidConfig(f"{where}.regex does not compile: {exc}") from None


def _check_processors(processors: Mapping[str, Any], names: Iterable[str]) -> None:
    known = set(names)
    for name, options in processors.items():
        if name not in known:
            choices = ", ".join(sorted(known))
            raise InvalidConfig(f"processors.{name}: no such processor ({choices})")
        options = _mapping(options, f"processors.{name}")
        if "enabled" in options and not isinstance(options["enabled"], bool):
            raise InvalidConfig(f"processors.{name}.enabled must be true or false")
        if "timeout_ms" in options:
            _positive_int(options["timeout_ms"], f"processors.{name}.timeout_ms")
    if "patterns" in (entities := processors.get("entities") or {}):
        _check_patterns(entities["patterns"])
    location = processors.get("location") or {}
    precision = location.get("precision_decimals", 0)
    if (
        isinstance(precision, bool)
        or not isinstance(precision, int)
        or not (0 <= precision <= MAX_PRECISION)
    ):
        raise InvalidConfig(f"processors.location.precision_decimals must be 0 to {MAX_PRECISION}")


def _check_safety(safety: Mapping[str, Any]) -> None:
    policy = _mapping(safety.get("policy", {}), "safety.policy")
    for category, action in policy.items():
        if category not in SAFETY_CATEGORIES:
            raise InvalidConfig(f"safety.policy.{category}: no such category")
        if action not in POLICIES:
            raise InvalidConfig(f"safety.policy.{category} must be one of {', '.join(POLICIES)}")
    domains = safety.get("blocked_domains", [])
    if not isinstance(domains, list) or not all(isinstance(d, str) and d for d in domains):
        raise InvalidConfig("safety.blocked_domains must be a list of domain names")
    if "block_reply" in safety and not isinstance(safety["block_reply"], str):
        raise InvalidConfig("safety.block_reply must be a string")
    if "keep_original" in safety and not isinstance(safety["keep_original"], bool):
        raise InvalidConfig("safety.keep_original must be true or false")


def _check_keys(value: Any, where: str) -> None:
    """Keys a document store can hold as written: no ``$`` operators, no dotted paths."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if not isinstance(key, str) or not key or key.startswith("$") or "." in key:
                raise InvalidConfig(f"{where}: {key!r} is not a setting name")
            _check_keys(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _check_keys(inner, f"{where}[{i}]")


def validate(config: Mapping[str, Any], processor_names: Iterable[str]) -> None:
    """Raises InvalidConfig for settings the pipeline could not apply."""
    _check_keys(config, "processing")
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise InvalidConfig(f"unknown processing settings: {', '.join(sorted(unknown))}")
    _check_processors(_mapping(config.get("processors", {}), "processors"), processor_names)
    _check_safety(_mapping(config.get("safety", {}), "safety"))
    if "timeout_ms" in config:
        _positive_int(config["timeout_ms"], "timeout_ms")
