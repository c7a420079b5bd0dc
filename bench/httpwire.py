"""Just enough HTTP/1.1 over asyncio streams for the load process: a keep-alive client that
sends pre-built requests, and a tiny server for the provider fake.

Why not httpx or aiohttp here: on a 2-core machine the load shares the CPU with what it
measures, so each request must cost the load process as little as possible (one write, one
header parse); the requests are built before the clock starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Handler = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]


def build_request(
    host: str, port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> bytes:
    """The bytes of one ``POST`` with a JSON body, ready to write on a kept-alive connection."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, int]:
    """The first line and the Content-Length of a message whose head comes next."""
    head = await reader.readuntil(b"\r\n\r\n")
    first, _, rest = head.partition(b"\r\n")
    length = 0
    for line in rest.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return first.decode("latin-1"), length


class Connection:
    """One kept-alive connection; ``send`` writes a request and returns the answer's status."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        try:
            self._writer.write(request)
            first, length = await _read_head(self._reader)
            body = await self._reader.readexactly(length) if length else b""
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.close()
            raise
        return int(first.split(" ", 2)[1]), body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def serve(host: str, port: int, handler: Handler) -> asyncio.Server:
    """A keep-alive server that answers every request with ``handler(path, body)``."""

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                first, length = await _read_head(reader)
                body = await reader.readexactly(length) if length else b""
                status, answer = await handler(first.split(" ", 2)[1], body)
                writer.write(
                    f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # the server is closing: the load is over
        finally:
            writer.close()

    return await asyncio.start_server(on_connection, host, port, reuse_address=True)
