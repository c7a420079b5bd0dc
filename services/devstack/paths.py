"""Where the local services keep binaries, data, logs and pid files: the state folder.

That is ``PARLEY_HOME``, by default a checkout's ``.parley/`` (see ``core/home.py``).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def home() -> Path:
    """The devstack's root folder: the ``home`` setting."""
    from core.settings import get_settings

    return get_settings().home


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
