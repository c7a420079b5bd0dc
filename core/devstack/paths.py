"""Where the local services keep binaries, data, logs and pid files: ``.parley/`` or PARLEY_HOME."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(__file__).resolve().parent


def home() -> Path:
    """The devstack's root folder; ``PARLEY_HOME`` is read on each call so tests can redirect it."""
    override = os.environ.get("PARLEY_HOME", "").strip()
    return Path(override).expanduser().resolve() if override else REPO_ROOT / ".parley"


def bin_dir() -> Path:
    """Binaries Parley builds itself (FerretDB)."""
    return home() / "bin"


def data_dir(name: str) -> Path:
    """A service's persistent data; survives ``down``/``up``."""
    return home() / "data" / name


def logs_dir() -> Path:
    """Process output and build logs, one file per service or step."""
    return home() / "logs"


def run_dir() -> Path:
    """Pid files and locks."""
    return home() / "run"


def ensure_dir(path: Path) -> Path:
    """``path``, created with its parents if missing."""
    path.mkdir(parents=True, exist_ok=True)
    return path
