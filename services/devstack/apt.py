"""Debian packages the local set-up needs, installed with apt-get when their program is missing."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from services.devstack import paths
from services.devstack.errors import DevstackError

logger = logging.getLogger(__name__)


def ensure_program(program: str, package: str) -> str:
    """The path of ``program``, after ``apt-get install -y package`` if it is not on PATH."""
    found = shutil.which(program)
    if found:
        return found
    log_file = paths.ensure_dir(paths.logs_dir()) / f"{package}-install.log"
    logger.info("installing %s with apt-get (log: %s)", package, log_file)
    install = ["apt-get", "install", "-y", package]
    # A fresh machine may have no package lists yet: update only when the install fails.
    installed = _apt(install, log_file) or (
        _apt(["apt-get", "update"], log_file) and _apt(install, log_file)
    )
    found = shutil.which(program)
    if not installed or not found:
        raise DevstackError(f"apt-get could not install {package}; see {log_file}")
    return found


def _apt(argv: list[str], log_file: Path) -> bool:
    """Run one apt-get command with its output appended to the log; True if it succeeded."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log_file.open("a") as log:
        done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    return done.returncode == 0
