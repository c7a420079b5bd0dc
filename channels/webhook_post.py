"""One signed POST to a tenant's webhook endpoint, connected only to an address that was checked.

DNS can answer differently at subscribe time and at send time (rebinding), so the check is made
where the socket is opened: ``PublicOnlyBackend`` resolves the host, refuses it unless every
address is public (``core.addresses``), and connects to a checked address. TLS still verifies
the certificate for the URL's host name and sends it as SNI, and the Host header is the name,
because only the TCP connect is redirected. No proxy from the environment, no redirects (a 3xx
is a failure, as Standard Webhooks advises).

    WebhookUnreachable (TransientError)   refused address, connect error, timeout
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

import httpcore
import httpx

from core import addresses
from core.addresses import AddressRefused
from core.errors import TransientError

_CONNECT_TIMEOUT_SECONDS = 5.0


class WebhookUnreachable(TransientError):
    """The endpoint could not be asked: a refused address, a failed connect or a timeout."""


class PublicOnlyBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, connecting only to public addresses of the host asked for."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = httpcore.SyncBackend()
        self._allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        if self._allow_private:
            return self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            checked = addresses.public(host, port)
        except AddressRefused as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        error: Exception | None = None
        for address in checked:
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise httpcore.ConnectError(f"no address of {host} accepted the connection") from error

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def webhook_client(allow_private: bool, timeout_seconds: float) -> httpx.Client:
    """The per-process client deliveries are sent with."""
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx takes no network backend, so its pool is rebuilt around ours; the SSRF tests
    # (tests/channels/test_webhook_post.py) fail if an httpx upgrade stops using it.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=PublicOnlyBackend(allow_private),
    )
    timeout = httpx.Timeout(timeout_seconds, connect=min(_CONNECT_TIMEOUT_SECONDS, timeout_seconds))
    return httpx.Client(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )


@dataclass(frozen=True)
class EndpointAnswer:
    status_code: int

    @property
    def delivered(self) -> bool:
        return 200 <= self.status_code < 300


def post_signed(
    client: httpx.Client, url: str, body: bytes, signed_headers: dict[str, str]
) -> EndpointAnswer:
    """POST ``body`` with its Standard Webhooks headers; the endpoint's answer, read no further."""
    headers = {
        **signed_headers,
        "content-type": "application/json",
        "user-agent": "Parley-Webhooks/1",
    }
    try:
        with client.stream("POST", url, content=body, headers=headers) as response:
            return EndpointAnswer(response.status_code)
    except httpx.TimeoutException as exc:
        raise WebhookUnreachable("the endpoint did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise WebhookUnreachable(f"the endpoint could not be reached: {exc}") from exc
