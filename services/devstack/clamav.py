"""ClamAV's clamd from Debian's ``clamav-daemon``, on 127.0.0.1:3310, with signatures of our own.

These machines cannot download ClamAV's signature database, so the set-up writes a small one
into ``data/clamav/db``: the EICAR test file and a Parley test marker (``parley.ndb``).
Production runs ``freshclam`` against ClamAV's mirrors into the ``DatabaseDirectory`` clamd
reads instead (see the README).
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from services.devstack import paths
from services.devstack.apt import ensure_program
from services.devstack.process import ManagedProcess
from services.devstack.service import Service

HOST = "127.0.0.1"
PORT = 3310

# The anti-virus test file every scanner knows (eicar.org): harmless, detected by design.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# Bytes no real file holds, so a test can make "infected" media of any type.
TEST_MARKER = b"PARLEY-CLAMAV-TEST-MARKER-8c1f2e"
# ``.ndb``: name, target type (0 = any file), offset (* = anywhere), the bytes in hex.
SIGNATURES = {
    "Parley.Test.EICAR": EICAR,
    "Parley.Test.Marker": TEST_MARKER,
}


def service() -> Service:
    """Our clamd: TCP on loopback only, no local socket, in the foreground, our database."""
    data = paths.data_dir("clamav")
    config = data / "clamd.conf"
    process = ManagedProcess(
        name="clamav",
        argv=(
            shutil.which("clamd") or "/usr/sbin/clamd",
            "--foreground",
            f"--config-file={config}",
        ),
        cwd=data,
    )
    return Service(
        name="clamav",
        address=f"{HOST}:{PORT}",
        answers=_answers,
        process=process,
        prepare=lambda: _install(data, config),
        ready_timeout=60.0,
    )


def _answers() -> bool:
    """clamd answers ``zPING`` with PONG (only once its database is loaded)."""
    try:
        with socket.create_connection((HOST, PORT), timeout=2.0) as conn:
            conn.sendall(b"zPING\0")
            return conn.recv(16).rstrip(b"\0\n") == b"PONG"
    except OSError:
        return False


def clamd_config(data: Path) -> str:
    """``clamd.conf``: every path inside ``data``; no LocalSocket line, so TCP only."""
    return "\n".join(
        [
            "Foreground yes",
            f"TCPSocket {PORT}",
            f"TCPAddr {HOST}",
            f"DatabaseDirectory {data / 'db'}",
            f"TemporaryDirectory {paths.ensure_dir(data / 'tmp')}",
            "LogTime yes",
            # Re-reads the database when it changes (freshclam's updates in production).
            "SelfCheck 600",
            # Above the media processor's largest download, so a big file is scanned whole.
            "StreamMaxLength 64M",
            "MaxFileSize 64M",
            "MaxScanSize 128M",
            "",
        ]
    )


def signature_database() -> str:
    return "".join(f"{name}:0:*:{data.hex()}\n" for name, data in SIGNATURES.items())


def _install(data: Path, config: Path) -> None:
    """apt-get install clamav-daemon when clamd is missing; write the config and database."""
    ensure_program("clamd", "clamav-daemon")
    database = paths.ensure_dir(data / "db")
    (database / "parley.ndb").write_text(signature_database())
    config.write_text(clamd_config(data))
