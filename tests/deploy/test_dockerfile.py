"""The Dockerfile, read offline: stages, a non-root final user, pinned bases and installs.

Docker is not needed here; where it exists, ``docker build .`` is the real check (docs/deploy.md).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions per stage: continuation lines joined, comments and blank lines dropped."""
    text = re.sub(r"\\\n", " ", text)
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"{keyword} before any FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


def problems(stages: list[Stage]) -> list[str]:
    """What makes an image unfit to run Parley in production."""
    found: list[str] = []
    names = {stage.name for stage in stages if stage.name}
    if len(stages) < 2:
        found.append("not multi-stage")
    for stage in stages:
        if stage.base in names:
            continue
        image, _, tag = stage.base.partition("@")[0].rpartition(":")
        if not image or "/" in tag or tag == "latest":
            found.append(f"base {stage.base} has no pinned tag")
    final = stages[-1]
    users = final.all("USER")
    if not users or users[-1].split(":")[0] in {"root", "0"}:
        found.append("the final stage runs as root")
    for keyword in ("CMD", "ENTRYPOINT"):
        for args in final.all(keyword):
            argv = json.loads(args) if args.startswith("[") else None
            if argv is None:
                found.append(f"{keyword} in shell form")
            elif argv[:1] != ["parley"]:
                found.append(f"{keyword} does not run parley: {argv}")
    if not final.all("CMD") and not final.all("ENTRYPOINT"):
        found.append("no CMD")
    builds = [s for s in stages[:-1]]
    if not any(re.search(r"\brequirements\.lock\b", a) for s in builds for a in s.all("COPY")):
        found.append("the lock is not copied into a build stage")
    if not any(
        re.search(r"pip install .*-r requirements\.lock", a) for s in builds for a in s.all("RUN")
    ):
        found.append("nothing is installed from the lock")
    if not any(a.startswith("--from=") for a in final.all("COPY")):
        found.append("the final stage copies nothing from a build stage")
    return found


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for raw in LOCK.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"requirements.lock: {line!r} is not an exact pin"
        pins[canonicalize_name(name)] = Version(version)
    return pins


def test_the_dockerfile_is_fit_for_production(stages: list[Stage]) -> None:
    assert problems(stages) == []


def test_the_builder_installs_parley_itself_without_resolving_again(stages: list[Stage]) -> None:
    runs = [a for s in stages[:-1] for a in s.all("RUN")]
    assert any(re.search(r"pip install --no-deps (\S+ )*\.( |$)", a) for a in runs), runs
    assert any("pip check" in a for a in runs), "a lock missing a dependency must fail the build"


def test_the_final_stage_is_slim_and_the_user_is_created_there(stages: list[Stage]) -> None:
    final = stages[-1]
    assert "-slim" in final.base
    assert any(a.startswith("useradd ") and "--uid 10001" in a for a in final.all("RUN"))
    assert final.all("USER")[-1] == "10001"


def test_every_runtime_dependency_is_pinned_in_the_lock() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = _pins()
    for text in pyproject["project"]["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not pinned in requirements.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {requirement.name}=={pins[name]}, "
            f"which pyproject.toml's {requirement.specifier} refuses"
        )


def test_the_lock_pins_no_development_tool() -> None:
    pins = _pins()
    assert not {"pytest", "ruff", "mypy", "parley"} & set(pins)


@pytest.mark.parametrize(
    ("dockerfile", "problem"),
    [
        ('FROM python:3.11-slim\nUSER 10001\nCMD ["parley"]\n', "not multi-stage"),
        (
            "FROM python:latest AS builder\nCOPY requirements.lock ./\n"
            "RUN pip install -r requirements.lock\nFROM python:3.11-slim\n"
            'COPY --from=builder /opt /opt\nUSER 10001\nCMD ["parley"]\n',
            "base python:latest has no pinned tag",
        ),
        (
            "FROM python AS builder\nCOPY requirements.lock ./\n"
            "RUN pip install -r requirements.lock\nFROM python:3.11-slim\n"
            'COPY --from=builder /opt /opt\nUSER 10001\nCMD ["parley"]\n',
            "base python has no pinned tag",
        ),
        (
            "FROM python:3.11 AS builder\nCOPY requirements.lock ./\n"
            "RUN pip install -r requirements.lock\nFROM python:3.11-slim\n"
            'COPY --from=builder /opt /opt\nUSER root\nCMD ["parley"]\n',
            "the final stage runs as root",
        ),
        (
            "FROM python:3.11 AS builder\nCOPY requirements.lock ./\n"
            "RUN pip install -r requirements.lock\nFROM python:3.11-slim\n"
            "COPY --from=builder /opt /opt\nUSER 10001\nCMD parley ingress\n",
            "CMD in shell form",
        ),
        (
            "FROM python:3.11 AS builder\nCOPY requirements.lock ./\n"
            "RUN pip install -r requirements.lock\nFROM python:3.11-slim\n"
            'COPY --from=builder /opt /opt\nUSER 10001\nCMD ["celery", "worker"]\n',
            "CMD does not run parley: ['celery', 'worker']",
        ),
        (
            "FROM python:3.11 AS builder\nRUN pip install .\nFROM python:3.11-slim\n"
            'COPY --from=builder /opt /opt\nUSER 10001\nCMD ["parley"]\n',
            "the lock is not copied into a build stage",
        ),
    ],
)
def test_the_checks_catch_a_bad_dockerfile(dockerfile: str, problem: str) -> None:
    assert problem in problems(parse_dockerfile(dockerfile))
