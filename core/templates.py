"""Message templates as Parley keeps them (one per name and language, with how many parameters
each component takes), and the check of a template part against one: the rule the deliver
stage and ``POST /v1/outbound`` both apply before a send. Read from the provider by
channels/whatsapp_templates.py, stored by storage/templates.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.envelopes import ChannelConfig

BUSINESS_ACCOUNT_OPTION = "business_account_id"
APPROVED = "APPROVED"
_WABA_ID = re.compile(r"[0-9]{1,32}")


@dataclass(frozen=True)
class MessageTemplate:
    """One template in one language; ``parameters``: how many each component takes
    (``"header"``, ``"body"``, ``"button:0"`` for the button at index 0)."""

    name: str
    language: str
    status: str
    category: str
    parameters: dict[str, int] = field(default_factory=dict)


def is_business_account_id(value: str) -> bool:
    return _WABA_ID.fullmatch(value) is not None


def business_account_id(config: ChannelConfig) -> str | None:
    """The config's WABA id, or None when it has none (templates are then not checked)."""
    value = str(config.options.get(BUSINESS_ACCOUNT_OPTION, "")).strip()
    return value or None


def template_problem(part: Mapping[str, Any], known: MessageTemplate | None) -> str | None:
    """Why the template ``part`` must not be sent, given what the account has under its name
    and language (None when it has nothing): None when it may be sent."""
    name, language = part.get("name"), _language(part.get("language"))
    if known is None:
        return f"template {name!r} in {language!r} is not one of the account's templates"
    if known.status != APPROVED:
        return (
            f"template {name!r} in {language!r} is {known.status or 'not approved'}, not APPROVED"
        )
    given: dict[str, int] = {}
    for component in part.get("components") or []:
        if not isinstance(component, Mapping):
            return f"template {name!r}: a component is not an object"
        key = str(component.get("type", "")).lower()
        if key == "button":
            key = f"button:{component.get('index', '')}"
        parameters = component.get("parameters") or []
        given[key] = given.get(key, 0) + (len(parameters) if isinstance(parameters, list) else 0)
    for key in sorted(set(known.parameters) | set(given)):
        expected, got = known.parameters.get(key, 0), given.get(key, 0)
        if expected != got:
            return (
                f"template {name!r} in {language!r}: {key} takes {expected} parameter(s), "
                f"{got} given"
            )
    return None


def template_key(part: Mapping[str, Any]) -> tuple[str, str]:
    """The (name, language code) a template part names."""
    return str(part.get("name") or ""), _language(part.get("language"))


def _language(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("code") or "")
    return str(value or "")
