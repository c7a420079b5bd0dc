"""``parley config``: the effective settings (secrets masked), or the settings reference."""

from __future__ import annotations

import argparse
import json
from typing import Any


def _config(args: argparse.Namespace) -> int:
    from core import settings_reference

    if args.reference:
        print(settings_reference.reference(), end="")
        return 0
    from core.settings import get_settings

    settings = get_settings()
    if args.json:
        print(json.dumps(settings_reference.effective(settings), indent=2))
    else:
        print(settings_reference.effective_text(settings), end="")
    return 0


def add_parsers(sub: Any) -> None:
    config = sub.add_parser(
        "config", help="print the effective settings (secrets masked) or their reference"
    )
    form = config.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="one JSON object instead of NAME=value")
    form.add_argument(
        "--reference",
        action="store_true",
        help="print docs/settings.md (every setting's type, default and meaning) instead",
    )
    config.set_defaults(func=_config)
