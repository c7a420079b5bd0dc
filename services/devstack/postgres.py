"""PostgreSQL from Debian's ``postgresql`` package, for FerretDB's PostgreSQL handler: a cluster of
Parley's own in ``data/postgres``, on 127.0.0.1:5433, holding the ``ferretdb`` database.

Port 5433, not PostgreSQL's 5432: installing Debian's package creates and starts a system
cluster of its own (``15/main``) on 5432, and Parley's must not take its place or find it there.

The cluster is made with the package's own ``initdb`` (``/usr/lib/postgresql/<version>/bin``),
not ``pg_createcluster``, so it lives under the state folder like every other service's data.
It listens on TCP 127.0.0.1 only, with no Unix socket, and ``pg_hba.conf`` lets in exactly
that: any role from 127.0.0.1, no password (trust), the superuser ``parley`` included.

PostgreSQL refuses to run as root. Run by root (a container, CI), the cluster is owned and
run by the ``postgres`` system account that Debian's package creates, as its own tools
(``pg_ctlcluster``) do; otherwise by the current user. That account must be able to reach the
state folder, so a ``PARLEY_HOME`` inside a private home folder fails with a clear message.
The server is stopped with SIGINT, PostgreSQL's fast shutdown.
"""

from __future__ import annotations

import grp
import os
import pwd
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.devstack import paths
from services.devstack.apt import ensure_program
from services.devstack.errors import DevstackError
from services.devstack.process import ManagedProcess
from services.devstack.service import Service, tcp_open

HOST = "127.0.0.1"
PORT = 5433
ROLE = "parley"
DATABASE = "ferretdb"
# The account Debian's package creates; used only when Parley runs as root.
ROOT_RUNS_AS = "postgres"
PACKAGE = "postgresql"
# Debian 12's major version: the one ``apt-get install postgresql`` brings on a machine that
# has none yet (``bin_dir`` prefers what is installed, and a cluster's own version).
DEFAULT_VERSION = "15"
HBA = (
    "# Parley's local cluster: TCP from 127.0.0.1 only, no password; no other access.\n"
    f"host all all {HOST}/32 trust\n"
)


def url(port: int = PORT) -> str:
    """FerretDB's ``--postgresql-url`` for the cluster on ``port``."""
    return f"postgres://{ROLE}@{HOST}:{port}/{DATABASE}"


def service(home: Path | None = None, port: int = PORT) -> Service:
    """Our PostgreSQL: loopback TCP only, no Unix socket, run by a non-root account.

    ``home`` and ``port`` default to the state folder and 5433 (a test makes a cluster apart).
    """
    home = home or paths.home()
    data = home / "data" / "postgres"
    binaries = bin_dir(data)
    process = ManagedProcess(
        name="postgres",
        argv=(
            str(binaries / "postgres"),
            "-D",
            str(data),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            f"port={port}",
            "-c",
            "unix_socket_directories=",
        ),
        cwd=data,
        home=home,
        as_user=run_as(),
        stop_signal=signal.SIGINT,
    )
    return Service(
        name="postgres",
        address=f"{HOST}:{port}",
        answers=lambda: _answers(binaries, port),
        process=process,
        prepare=lambda: _prepare(data, home / "logs"),
        after_ready=lambda: ensure_database(binaries, port),
        ready_timeout=60.0,
    )


def run_as() -> str | None:
    """The account the cluster runs as: ``postgres`` when we are root, else None (ourselves)."""
    return ROOT_RUNS_AS if os.geteuid() == 0 else None


def bin_dir(data: Path) -> Path:
    """The binaries of the cluster's major version, else of the newest installed, else 15's."""
    root = Path("/usr/lib/postgresql")
    version_file = data / "PG_VERSION"
    if version_file.exists():
        return root / version_file.read_text().strip() / "bin"
    installed = sorted(
        (p.parent.parent for p in root.glob("*/bin/postgres")),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
    )
    return (installed[-1] if installed else root / DEFAULT_VERSION) / "bin"


def _answers(binaries: Path, port: int) -> bool:
    if not tcp_open(HOST, port):
        return False
    ready = subprocess.run(
        [str(binaries / "pg_isready"), "-q", "-h", HOST, "-p", str(port), "-U", ROLE],
        capture_output=True,
        check=False,
        timeout=10,
    )
    return ready.returncode == 0


def psql(binaries: Path, port: int, sql: str, database: str = "postgres") -> str:
    """Run one SQL statement as the superuser over TCP; its rows, unaligned."""
    done = subprocess.run(
        [
            *(str(binaries / "psql"), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1"),
            *("-h", HOST, "-p", str(port), "-U", ROLE, "-d", database, "-c", sql),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise DevstackError(f"postgres: `{sql}` failed: {done.stderr.strip()}")
    return done.stdout.strip()


def ensure_database(binaries: Path, port: int) -> None:
    """Create FerretDB's database unless it exists."""
    # DATABASE is our constant, not input: nothing to inject.
    exists = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"  # noqa: S608
    if psql(binaries, port, exists) != "1":
        psql(binaries, port, f'CREATE DATABASE "{DATABASE}"')


def _prepare(data: Path, logs: Path) -> None:
    """Install the package when missing, and make the cluster once (``initdb``)."""
    binaries = bin_dir(data)
    ensure_program(str(binaries / "initdb"), PACKAGE)
    if (data / "PG_VERSION").exists():
        return
    user = run_as()
    paths.ensure_dir(data)
    data.chmod(0o700)
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(data, account.pw_uid, account.pw_gid)
        _check_reachable(data, user)
    log_file = paths.ensure_dir(logs) / "postgres-initdb.log"
    initdb = [
        str(binaries / "initdb"),
        "-D",
        str(data),
        f"--username={ROLE}",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
    ]
    with log_file.open("a") as log:
        done = subprocess.run(
            initdb, cwd=data, stdout=log, stderr=subprocess.STDOUT, check=False, **_as(user)
        )
    if done.returncode != 0:
        raise DevstackError(f"initdb of the PostgreSQL cluster failed; see {log_file}")
    (data / "pg_hba.conf").write_text(HBA)
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(data / "pg_hba.conf", account.pw_uid, account.pw_gid)


def _as(user: str | None) -> Mapping[str, Any]:
    """subprocess's arguments that run a child as ``user`` (its groups too); none for None."""
    if user is None:
        return {}
    account = pwd.getpwnam(user)
    return {
        "user": account.pw_uid,
        "group": account.pw_gid,
        "extra_groups": os.getgrouplist(user, account.pw_gid),
    }


def _check_reachable(data: Path, user: str) -> None:
    """Fail with a clear message if ``user`` cannot enter every folder above ``data``."""
    account = pwd.getpwnam(user)
    groups = set(os.getgrouplist(user, account.pw_gid))
    for folder in data.resolve().parents:
        info = folder.stat()
        if info.st_uid == account.pw_uid:
            allowed = bool(info.st_mode & 0o100)
        elif info.st_gid in groups:
            allowed = bool(info.st_mode & 0o010)
        else:
            allowed = bool(info.st_mode & 0o001)
        if not allowed:
            group = grp.getgrgid(info.st_gid).gr_name
            raise DevstackError(
                f"postgres runs as the `{user}` account (PostgreSQL refuses root), which cannot "
                f"enter {folder} (owner uid {info.st_uid}, group {group}); set PARLEY_HOME to a "
                "folder it can reach"
            )
