"""The browser tests' Chromium is Debian's package, found or installed by the set-up."""

from __future__ import annotations

import shutil
import subprocess

from services.devstack.apt import ensure_program
from services.devstack.chromium import ensure_chromium


def test_ensure_chromium_gives_the_chromium_on_path_that_runs() -> None:
    path = ensure_chromium()
    assert path == shutil.which("chromium")
    version = subprocess.run(
        [path, "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert version.stdout.startswith("Chromium ")


def test_a_program_on_path_is_not_installed_again() -> None:
    # A package apt cannot have: reaching apt-get would raise instead of answering.
    assert ensure_program("sh", "no-such-package-parley") == shutil.which("sh")
