"""A TCP proxy in front of a MongoDB-wire server that can stop answering without closing, for tests.

It stands in for a server whose request handlers are stuck (a lock that is never released, a
disk that stopped answering) while its connections stay open and its monitoring still answers:
clients talk through it to the real server until ``stall()``; from then on a connection that
sends any command but ``hello`` (or the legacy ``isMaster``) gets no answer to it, ever, and
monitoring connections keep getting theirs. The client's own monitor therefore never sees a
failure, so only the client's operation timeout can end the wait.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType

_OP_QUERY, _OP_MSG = 2004, 2013
_MONITORING = (b"hello", b"ismaster", b"isMaster")


def command_name(message: bytes) -> bytes:
    """The command a whole OP_MSG or OP_QUERY request names (b"" for anything else)."""
    (op_code,) = struct.unpack_from("<i", message, 12)
    if op_code == _OP_MSG:
        start = 16 + 4 + 1 + 4 + 1  # header, flag bits, section kind 0, document length, type
    elif op_code == _OP_QUERY:
        collection_end = message.index(b"\0", 20)
        start = collection_end + 1 + 8 + 4 + 1  # skip, return count, document length, type
    else:
        return b""
    return message[start : message.index(b"\0", start)]


class StallingProxy:
    """Start with ``with StallingProxy(port) as proxy:``; point clients at ``proxy.port``."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stalled = threading.Event()
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.held = 0  # requests that got no answer

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def stall(self) -> None:
        """From now on every command but ``hello`` is held for ever; connections stay open."""
        self._stalled.set()

    def __enter__(self) -> StallingProxy:
        self._spawn(self._accept)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Closes every connection (clients waiting on a held request see them drop)."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._listener.close()
        with self._lock:
            for each in self._sockets:
                with contextlib.suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)
                each.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            with self._lock:
                self._sockets += [client, server]
            self._spawn(self._requests, client, server)
            self._spawn(self._answers, server, client)

    def _requests(self, client: socket.socket, server: socket.socket) -> None:
        """Forwards whole requests; once stalled, holds the first one that is not monitoring."""
        buffer = b""
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while len(buffer) >= 4:
                (length,) = struct.unpack_from("<i", buffer)
                if len(buffer) < length:
                    break
                message, buffer = buffer[:length], buffer[length:]
                if self._stalled.is_set() and command_name(message) not in _MONITORING:
                    with self._lock:
                        self.held += 1
                    self._closing.wait()  # the request is never answered
                    return
                try:
                    server.sendall(message)
                except OSError:
                    return

    def _answers(self, server: socket.socket, client: socket.socket) -> None:
        while True:
            try:
                data = server.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                client.sendall(data)
            except OSError:
                return
