"""Redis from Debian's ``redis-server`` package, on 127.0.0.1:6379 with an append-only file."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis as redis_client

from services.devstack import paths
from services.devstack.apt import ensure_program
from services.devstack.process import ManagedProcess
from services.devstack.service import Service, tcp_open

HOST = "127.0.0.1"
PORT = 6379


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
    ensure_program("redis-server", "redis-server")
