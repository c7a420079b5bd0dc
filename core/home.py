"""Parley's state folder (``PARLEY_HOME``): a checkout's ``.parley/``, else ``~/.parley``.

Run from a source checkout, everything local (services' data, logs, beat's schedule, the
development secrets) stays beside the sources in the git-ignored ``.parley/``. Installed from a
wheel, the package's own folder is site-packages, which a service user may not write, so the
default is the user's ``~/.parley``; containers set ``PARLEY_HOME`` to a folder they own.
"""

from __future__ import annotations

from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def checkout() -> Path | None:
    """The source checkout Parley runs from, or None when it runs installed."""
    return _SOURCE_ROOT if (_SOURCE_ROOT / "pyproject.toml").is_file() else None


def default_home() -> Path:
    """Where the state folder is when ``PARLEY_HOME`` is unset."""
    root = checkout()
    return root / ".parley" if root is not None else Path.home() / ".parley"
