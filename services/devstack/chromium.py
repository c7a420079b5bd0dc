"""Headless Chromium for the browser tests: Debian's ``chromium`` package, never a downloaded build.

Playwright drives it through ``executable_path`` with the flags below: a closed network and no
GPU, so Chromium's background services (updates, sync, QUIC probes) stay quiet.
"""

from __future__ import annotations

from services.devstack.apt import ensure_program

LAUNCH_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def ensure_chromium() -> str:
    """The path of the ``chromium`` program, installed with apt-get when it is missing."""
    return ensure_program("chromium", "chromium")
