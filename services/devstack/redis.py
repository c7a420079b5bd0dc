"""Redis from Debian's ``redis-server`` package, on 127.0.0.1:6379 with an append-only file."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

import redis as redis_client

from services.devstack import paths
from services.devstack.errors import DevstackError
from services.devstack.process import ManagedProcess
from services.devstack.service import Service, tcp_open

HOST = "127.0.0.1"
PORT = 6379

logger = logging.getLogger(__name__)


def service() -> Service:
    """Our redis-server: AOF on, RDB snapshots off, bound to loopback only."""
    data = paths.data_dir("redis")
    process = ManagedProcess(
        name="redis",
        argv=(
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--bind",
            HOST,
            "--port",
            str(PORT),
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--save",
            "",
            # Keep /proc/<pid>/cmdline as launched: the pid file is checked against it.
            "--set-proc-title",
            "no",
        ),
        cwd=data,
    )
    return Service(
        name="redis",
        address=f"{HOST}:{PORT}",
        answers=_answers,
        process=process,
        prepare=lambda: _install(data),
    )


def _answers() -> bool:
    if not tcp_open(HOST, PORT):
        return False
    client = redis_client.Redis(host=HOST, port=PORT, socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis_client.RedisError:
        return False
    finally:
        client.close()


def _install(data: Path) -> None:
    """Create the data folder; apt-get install redis-server when it is not on PATH."""
    paths.ensure_dir(data)
    if shutil.which("redis-server"):
        return
    log_file = paths.ensure_dir(paths.logs_dir()) / "redis-install.log"
    logger.info("installing redis-server with apt-get (log: %s)", log_file)
    install = ["apt-get", "install", "-y", "redis-server"]
    # A fresh machine may have no package lists yet: update only when the install fails.
    if _apt(install, log_file):
        return
    if _apt(["apt-get", "update"], log_file) and _apt(install, log_file):
        return
    raise DevstackError(f"apt-get could not install redis-server; see {log_file}")


def _apt(argv: list[str], log_file: Path) -> bool:
    """Run one apt-get command with its output appended to the log; True if it succeeded."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log_file.open("a") as log:
        done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    return done.returncode == 0
