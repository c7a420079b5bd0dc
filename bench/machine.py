"""What the figures were measured on: the machine, its load, and the versions in play."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from typing import Any

import psutil

PACKAGES = ("celery", "kombu", "redis", "pymongo", "starlette", "uvicorn", "grpcio", "httpx")


def _command(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout or done.stderr else ""
    )


def describe(root: str) -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu_model = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                "unknown",
            )
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "redis_server": _command("redis-server", "--version"),
        "git_commit": _command("git", "-C", root, "rev-parse", "--short", "HEAD"),
        "git_dirty": bool(
            _command("git", "-C", root, "status", "--porcelain", "--untracked-files=no")
        ),
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def load() -> dict[str, Any]:
    """The load average and CPU use now: the machine may be shared, and this says how much."""
    one, five, fifteen = os.getloadavg()
    return {"loadavg": [round(one, 2), round(five, 2), round(fifteen, 2)]}
