"""What an operator can discover: the settings reference, `parley config`, a typo's
did-you-mean, `parley --version`, and help on every option."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
from importlib.metadata import version
from pathlib import Path

from cli.main import build_parser
from core.settings import NOT_SETTINGS, NOT_SETTINGS_PREFIXES, Settings, setting_names
from core.settings_reference import MASK, REFERENCE_FILE, REGENERATE, reference
from tests.processes import run_parley

ROOT = Path(__file__).resolve().parents[2]
SECRET_VALUE = "sk-opsconfig-never-shown-0123456789abcdef"
# Names that look like variables but are Python identifiers or prefixes written in prose.
NOT_VARIABLES = {"PARLEY_ENV", "PARLEY_PACKAGES", "PARLEY_TOPICS"}
TYPO = "PARLEY_ENGINE_ADDR".replace("ENGINE", "ENGNE")  # spelt out, it would be a stray below


def test_docs_settings_md_is_the_generated_reference() -> None:
    assert REFERENCE_FILE.read_text() == reference(), (
        f"docs/settings.md is out of date with core/settings.py; run `{REGENERATE}`"
    )


def test_every_setting_is_described_in_the_reference() -> None:
    text = reference()
    for name, info in Settings.model_fields.items():
        assert info.description, f"PARLEY_{name.upper()} has no Field(description=...)"
        assert f"`PARLEY_{name.upper()}`" in text
    # A secret's default is never written out, and neither is this machine's state folder.
    assert str(ROOT) not in text


def test_config_masks_every_secret_as_text_and_json() -> None:
    secrets = {
        "PARLEY_OPENAI_API_KEY": SECRET_VALUE,
        "PARLEY_SMTP_PASSWORD": SECRET_VALUE + "-smtp",
        "PARLEY_FLOWER_BASIC_AUTH": "ops:" + SECRET_VALUE,
    }
    text = run_parley("config", PARLEY_SMTP_HOST="mail.example", **secrets)
    assert text.returncode == 0, text.stderr
    assert SECRET_VALUE not in text.stdout + text.stderr
    assert f"PARLEY_OPENAI_API_KEY={MASK}\n" in text.stdout
    assert "PARLEY_SMTP_HOST=mail.example\n" in text.stdout  # not a secret: shown

    shown = run_parley("config", "--json", **secrets)
    assert shown.returncode == 0, shown.stderr
    assert SECRET_VALUE not in shown.stdout + shown.stderr
    values = json.loads(shown.stdout)
    assert set(values) == set(setting_names())
    for variable in secrets:
        assert values[variable] == MASK, variable
    assert values["PARLEY_BROKER_URL"] == os.environ.get(
        "PARLEY_BROKER_URL", Settings.model_fields["broker_url"].default
    )


def test_a_misspelt_variable_stops_start_up_naming_the_setting_meant() -> None:
    answer = run_parley("config", **{TYPO: "x"})
    assert answer.returncode != 0
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1, answer.stderr  # one clear line, no traceback
    assert TYPO in lines[0]
    assert "did you mean PARLEY_ENGINE_ADDR?" in lines[0]


def test_every_parley_variable_the_project_names_is_a_setting_or_allowed() -> None:
    pattern = re.compile(r"PARLEY_[A-Z0-9_]+")
    named: set[str] = set()
    # The repository's files, not the state folder or the virtualenv beside them.
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        path = ROOT / name
        if path.is_file() and (
            path.suffix in {".py", ".yml", ".md", ".toml"} or path.name in {"Makefile", "run"}
        ):
            named |= set(pattern.findall(path.read_text(errors="replace")))
    assert "PARLEY_BROKER_URL" in named  # the walk read the repository
    known = set(setting_names())
    strays = {
        name
        for name in named - known - NOT_SETTINGS - NOT_VARIABLES
        if not name.startswith(NOT_SETTINGS_PREFIXES)
        # a prefix written in prose (``PARLEY_SMTP_*``): some setting starts with it
        and not (name.endswith("_") and any(k.startswith(name) for k in known))
        and name not in {p.rstrip("_") for p in NOT_SETTINGS_PREFIXES}
    }
    assert not strays, f"neither settings nor in core/settings.py NOT_SETTINGS: {sorted(strays)}"


def test_version_is_the_installed_packages() -> None:
    answer = run_parley("--version")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == f"parley {version('parley')}"


def _parsers(
    parser: argparse.ArgumentParser, path: str
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _parsers(child, f"{path} {name}")
    return found


def test_every_option_and_argument_of_every_command_has_help() -> None:
    missing = []
    parsers = _parsers(build_parser(), "parley")
    assert len(parsers) > 20  # the walk reached the subcommands
    for path, parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, f"no help text: {missing}"
