"""What an operator reads about the settings: the reference table (docs/settings.md) and the
effective values of this process, secrets masked.

Both come from the ``Settings`` model itself (its fields, types, defaults, constraints and
descriptions), so a new setting is documented by declaring it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from core.settings import Settings

MASK = "****"
# A setting is masked when it is a SecretStr or its name says it holds one.
SECRET_WORDS = frozenset({"secret", "password", "token", "key"})
REFERENCE_FILE = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
REGENERATE = "parley config --reference > docs/settings.md"
_CONSTRAINTS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "min length"}


def is_secret(name: str, info: FieldInfo | None = None) -> bool:
    """Whether setting ``name`` is one whose value is never shown."""
    info = info or Settings.model_fields[name]
    return "SecretStr" in str(info.annotation) or bool(SECRET_WORDS & set(name.split("_")))


def _type(info: FieldInfo) -> str:
    text = re.sub(r"\b(typing|pathlib|pydantic\.types)\.", "", str(info.annotation))
    text = re.sub(r"<class '(\w+)'>", r"\1", text)
    limits = []
    for item in info.metadata:
        for attribute, sign in _CONSTRAINTS.items():
            value = getattr(item, attribute, None)
            if value is not None:
                limits.append(
                    f"{sign} {value:g}" if isinstance(value, float) else f"{sign} {value}"
                )
        if getattr(item, "pattern", None):
            limits.append(f"matching `{item.pattern}`")
    return text + (f" ({', '.join(limits)})" if limits else "")


def _default(name: str, info: FieldInfo) -> str:
    if info.default_factory is not None:
        if info.default_factory in (dict, list):
            return f"`{json.dumps(info.default_factory())}`"
        return "computed (see meaning)"
    if info.default is None:
        return "unset"
    if is_secret(name, info):
        return f"`{MASK}`"
    return f"`{json.dumps(info.default) if isinstance(info.default, str) else info.default}`"


def reference() -> str:
    """docs/settings.md: every setting's variable, type, default and meaning."""
    lines = [
        "# Settings reference",
        "",
        "Every setting is an environment variable read once at start-up (core/settings.py); a bad",
        "value, or a `PARLEY_*` variable that is no setting, stops the process with the reason.",
        "`parley config` prints the effective values (secrets masked, `--json` for machines).",
        "",
        f"Generated from the settings model: `{REGENERATE}` rewrites this page.",
        "",
        "| Variable | Type | Default | Meaning |",
        "| --- | --- | --- | --- |",
    ]
    for name, info in Settings.model_fields.items():
        meaning = (info.description or "").replace("|", "\\|")
        row = [f"`PARLEY_{name.upper()}`", _type(info).replace("|", "\\|"), _default(name, info)]
        lines.append(f"| {' | '.join(row)} | {meaning} |")
    return "\n".join(lines) + "\n"


def _shown(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, Path):
        return str(value)
    return value


def effective(settings: Settings) -> dict[str, Any]:
    """This process's settings by variable name, every secret masked (unset stays ``None``)."""
    shown: dict[str, Any] = {}
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if value is not None and is_secret(name, info):
            value = MASK
        shown[f"PARLEY_{name.upper()}"] = _shown(value)
    return shown


def effective_text(settings: Settings) -> str:
    """``effective`` as ``NAME=value`` lines (JSON for values that are not plain scalars)."""
    lines = []
    for variable, value in effective(settings).items():
        text = "" if value is None else value if isinstance(value, str) else json.dumps(value)
        lines.append(f"{variable}={text}")
    return "\n".join(lines) + "\n"
