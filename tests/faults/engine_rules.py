"""An engine rules file whose every answer to the load has several parts.

The load's texts ("c3-m7") match no intent, so the engine answers with its fallback; here the
fallback is ``parts`` parts: texts naming their place, then the default's quick replies. Each
part is one Send API call, so a reply's parts are told apart at the provider by their bodies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.mcp_engine.rules import DEFAULT_RULES_FILE


def multi_part_rules(path: Path, parts: int) -> Path:
    """Writes the rules file to ``path`` (the engine's ``PARLEY_ENGINE_RULES_FILE``)."""
    rules: dict[str, Any] = json.loads(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))
    fallback = rules["default"]["fallback"]
    (quick_replies,) = fallback["parts"]["en"]  # the load's turns have no language
    last = quick_replies["quick_replies"]
    last["text"] = f"Part {parts} of {parts}: {last['text']}"
    texts = [
        {"text": f"Part {index} of {parts}: this is one reply sent in {parts} messages."}
        for index in range(1, parts)
    ]
    fallback["parts"] = [*texts, quick_replies]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rules, indent=2), encoding="utf-8")
    return path
