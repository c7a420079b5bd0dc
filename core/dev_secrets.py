"""A checkout's development secrets: made once by ``parley run``, kept in the state folder.

Each lives in its own file, mode 0600, created whole or not at all, so every shell in the
checkout (``parley token``, ``parley channels add``) reads the secret ``parley run`` uses. An
installed Parley never reads them: a deployment names its secrets explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from core.home import checkout

JWT_SECRET = "dev-jwt-secret"  # noqa: S105  (a file name, not a secret)
MASTER_KEY = "dev-master-key"
FLOWER_BASIC_AUTH = "dev-flower-basic-auth"


def ensure(home: Path, name: str, make: Callable[[], str]) -> str:
    """The secret kept as ``home/name``, made by ``make`` if it is missing."""
    path = home / name
    home.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        draft = home / f".{name}.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make() + "\n")
        try:
            os.link(draft, path)  # never replaces: a concurrent `parley run`'s secret wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    os.chmod(path, 0o600)
    return path.read_text().strip()


def existing(home: Path, name: str) -> str | None:
    """The development secret ``name`` when Parley runs from a checkout that has one."""
    if checkout() is None:
        return None
    try:
        secret = (home / name).read_text().strip()
    except FileNotFoundError:
        return None
    return secret or None
