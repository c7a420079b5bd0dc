"""A tenant's processing config: merged over the defaults, and refused when the pipeline could
not apply it."""

from __future__ import annotations

from typing import Any

import pytest

from processors.config import DEFAULTS, InvalidConfig, merged, validate

NAMES = ["validation", "entities", "location", "sentiment"]


def test_a_tenants_settings_merge_over_the_defaults_key_by_key() -> None:
    config = merged({"safety": {"policy": {"card": "block"}}, "timeout_ms": 900})

    assert config["safety"]["policy"]["card"] == "block"
    assert config["safety"]["policy"]["iban"] == DEFAULTS["safety"]["policy"]["iban"]
    assert config["safety"]["keep_original"] is False
    assert config["timeout_ms"] == 900
    assert merged(None) == DEFAULTS
    assert DEFAULTS["safety"]["policy"]["card"] == "redact"  # the defaults are never changed


def test_a_valid_config_passes() -> None:
    validate(
        {
            "processors": {
                "sentiment": {"enabled": False},
                "entities": {"patterns": [{"name": "order_number", "regex": r"\b\d{4,8}\b"}]},
                "location": {"precision_decimals": 2},
            },
            "safety": {"policy": {"card": "redact"}, "blocked_domains": ["evil.example"]},
            "timeout_ms": 800,
        },
        NAMES,
    )


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"processors": {"sentimen": {"enabled": False}}}, "no such processor"),
        ({"processors": {"sentiment": {"enabled": "no"}}}, "enabled"),
        ({"safety": {"policy": {"card": "shred"}}}, "allow, flag, redact, block"),
        ({"safety": {"policy": {"cards": "allow"}}}, "no such category"),
        ({"processors": {"entities": {"patterns": [{"name": "o", "regex": "("}]}}}, "compile"),
        ({"processors": {"entities": {"patterns": [{"name": "o", "regex": "a" * 201}]}}}, "1 to"),
        ({"processors": {"location": {"precision_decimals": 7}}}, "0 to 6"),
        ({"timeout_ms": 0}, "timeout_ms"),
        ({"timeouts": 1}, "unknown"),
        ({"processors": {"entities": {"$where": "1"}}}, "not a setting name"),
        ({"safety": {"policy": {"a.b": "allow"}}}, "not a setting name"),
    ],
)
def test_a_config_the_pipeline_could_not_apply_is_refused(
    config: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidConfig, match=says):
        validate(config, NAMES)
