"""Who is on the other end of a request or socket, as far as Parley may believe it.

The address is the connection's, or the one ``X-Forwarded-For`` names when the proxy is one
``PARLEY_FORWARDED_ALLOW_IPS`` trusts: uvicorn's proxy-headers middleware (``cli/main.py``)
has then already put it in the ASGI scope, and an untrusted proxy's header is ignored there.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

MAX_USER_AGENT = 512  # longer is not a browser's; the metadata normaliser reads no more


def client_address(connection: HTTPConnection) -> str:
    """The address failed attempts count against and a web message records."""
    return connection.client.host if connection.client else "unknown"


def client_metadata(connection: HTTPConnection) -> dict[str, Any]:
    """What a web visitor's message records of its client (``metadata``), for the metadata
    normaliser: the user agent header and the client address."""
    agent = connection.headers.get("user-agent")
    return {
        "user_agent": agent[:MAX_USER_AGENT] if agent else None,
        "client_ip": connection.client.host if connection.client else None,
    }
