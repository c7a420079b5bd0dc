"""A user's file, downloaded through its channel, within a size limit and a timeout.

    WhatsApp    ``GET /{media-id}`` (bearer) gives a short-lived ``url``; GET it with the bearer
    Messenger   the attachment's CDN ``url``, as it came
    Slack       ``url_private`` with the bot token (``files:read``)
    Teams       the file's pre-authorised ``downloadUrl``, or an image's ``contentUrl``

A URL that a webhook or a provider named is fetched only if its host resolves to public
addresses (``ChannelRuntime.allow_private_media`` lifts that for development), so a message
cannot make Parley read from its own network; redirects are followed by hand, each one checked.

    ChannelError
    ├── MediaTooLarge      (PermanentError) past the limit: the rest is never read
    └── MediaUnavailable   (TransientError) the provider or URL did not give the file
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from channels.base import ChannelError
from channels.runtime import ChannelRuntime
from core import addresses
from core.addresses import AddressRefused
from core.envelopes import ChannelConfig
from core.errors import PermanentError, TransientError

_MAX_REDIRECTS = 3


class MediaTooLarge(ChannelError, PermanentError):
    """The file is larger than the caller's limit."""


class MediaUnavailable(ChannelError, TransientError):
    """The file could not be downloaded."""


Request = tuple[str, dict[str, str]]  # a URL and the headers to GET it with


def download_media(
    channel: str,
    content: Mapping[str, Any],
    config: ChannelConfig | None,
    runtime: ChannelRuntime,
    max_bytes: int,
) -> bytes:
    """The file a message of ``channel`` names in ``content``, at most ``max_bytes`` long."""
    locate = _LOCATORS.get(channel)
    if locate is None:
        raise MediaUnavailable(f"{channel} has no media download")
    url, headers = locate(content, config, runtime, max_bytes)
    return fetch_url(runtime, url, headers, max_bytes)


def fetch_url(runtime: ChannelRuntime, url: str, headers: dict[str, str], max_bytes: int) -> bytes:
    """GET ``url`` (a public address unless the runtime allows others) within the limits."""
    for _ in range(_MAX_REDIRECTS + 1):
        _require_public(url, runtime.allow_private_media)
        try:
            with runtime.http.stream(
                "GET", url, headers=headers, timeout=runtime.media_timeout
            ) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                if not response.is_success:
                    raise MediaUnavailable(f"the media URL answered HTTP {response.status_code}")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise MediaTooLarge(f"{declared} bytes is past the limit of {max_bytes}")
                return _read_within(response, max_bytes)
        except httpx.TimeoutException as exc:
            raise MediaUnavailable("the media download timed out") from exc
        except httpx.TransportError as exc:
            raise MediaUnavailable(f"the media download failed: {type(exc).__name__}") from exc
    raise MediaUnavailable(f"more than {_MAX_REDIRECTS} redirects")


def _read_within(response: httpx.Response, max_bytes: int) -> bytes:
    received = bytearray()
    for chunk in response.iter_bytes():
        received += chunk
        if len(received) > max_bytes:
            raise MediaTooLarge(f"more than {max_bytes} bytes")
    return bytes(received)


def _require_public(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise MediaUnavailable("the media URL is not an http(s) URL")
    if allow_private:
        return
    try:
        addresses.public(parts.hostname, parts.port or 443)
    except AddressRefused as exc:
        raise MediaUnavailable(f"the media URL is refused: {exc}") from exc


def _whatsapp(
    content: Mapping[str, Any],
    config: ChannelConfig | None,
    runtime: ChannelRuntime,
    max_bytes: int,
) -> Request:
    media_id = str(content.get("media_id") or "")
    token = config.secrets.get("access_token", "") if config else ""
    if not media_id or not token:
        raise MediaUnavailable("a WhatsApp media download needs the media id and access token")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{runtime.urls.whatsapp_api.rstrip('/')}/{quote(media_id, safe='')}"
    try:
        answer = runtime.http.get(url, headers=headers, timeout=runtime.media_timeout)
        described = answer.json() if answer.is_success else None
    except httpx.HTTPError as exc:
        raise MediaUnavailable(f"WhatsApp's media look-up failed: {type(exc).__name__}") from exc
    except ValueError:
        described = None
    if not isinstance(described, dict) or not isinstance(described.get("url"), str):
        raise MediaUnavailable(f"WhatsApp's media look-up answered HTTP {answer.status_code}")
    size = str(described.get("file_size") or "")
    if size.isdigit() and int(size) > max_bytes:
        raise MediaTooLarge(f"{size} bytes is past the limit of {max_bytes}")
    return described["url"], headers


def _plain_url(
    content: Mapping[str, Any],
    config: ChannelConfig | None,
    runtime: ChannelRuntime,
    max_bytes: int,
) -> Request:
    url = str(content.get("url") or "")
    if not url:
        raise MediaUnavailable("the attachment has no URL")
    return url, {}


def _slack(
    content: Mapping[str, Any],
    config: ChannelConfig | None,
    runtime: ChannelRuntime,
    max_bytes: int,
) -> Request:
    url, _ = _plain_url(content, config, runtime, max_bytes)
    token = config.secrets.get("bot_token", "") if config else ""
    return url, ({"Authorization": f"Bearer {token}"} if token else {})


_LOCATORS: dict[str, Callable[..., Request]] = {
    "whatsapp": _whatsapp,
    "messenger": _plain_url,
    "slack": _slack,
    "teams": _plain_url,
}
