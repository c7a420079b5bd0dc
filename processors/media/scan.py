"""A clamd client over its INSTREAM protocol: is this file clean, or what does it carry?

    zINSTREAM\\0, then chunks (4-byte big-endian length + bytes), then a zero length;
    clamd answers ``stream: OK`` or ``stream: <signature> FOUND`` (``... ERROR`` otherwise).

Anything but a clear answer (no daemon, a timeout, a size limit hit, an unknown reply) is a
ScanFailed, never "clean": a file nobody could scan is not passed on.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from processors.base import ProcessorError

CHUNK_BYTES = 64 * 1024


class ScanFailed(ProcessorError):
    """clamd could not say whether the file is clean."""


@dataclass(frozen=True)
class Clamd:
    """clamd on ``host:port``; ``timeout`` bounds each connect, send and read."""

    host: str = "127.0.0.1"
    port: int = 3310
    timeout: float = 15.0

    def scan(self, data: bytes) -> str | None:
        """None when clamd finds the file clean, else the name of what it found."""
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as conn:
                conn.sendall(b"zINSTREAM\0")
                for start in range(0, len(data), CHUNK_BYTES):
                    chunk = data[start : start + CHUNK_BYTES]
                    conn.sendall(struct.pack(">I", len(chunk)) + chunk)
                conn.sendall(struct.pack(">I", 0))
                answer = _read_answer(conn)
        except OSError as exc:  # refused, reset, timed out
            raise ScanFailed(f"clamd at {self.host}:{self.port} did not answer: {exc}") from exc
        return verdict(answer)

    def ping(self) -> bool:
        """True if clamd answers ``zPING`` with PONG."""
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as conn:
                conn.sendall(b"zPING\0")
                return _read_answer(conn) == "PONG"
        except OSError:
            return False


def verdict(answer: str) -> str | None:
    """The virus name in a clamd answer, None for OK; ScanFailed for anything else."""
    body = answer.removeprefix("stream:").strip()
    if body == "OK":
        return None
    if body.endswith(" FOUND"):
        return body.removesuffix(" FOUND").strip()
    raise ScanFailed(f"clamd could not scan the file: {body or 'an empty answer'}")


def _read_answer(conn: socket.socket) -> str:
    """One NUL-terminated answer (clamd closes the connection after it)."""
    received = bytearray()
    while not received.endswith(b"\0"):
        block = conn.recv(4096)
        if not block:
            break
        received += block
    return received.rstrip(b"\0").decode("utf-8", "replace").strip()
