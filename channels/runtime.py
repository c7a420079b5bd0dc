"""Per-process state the channel adapters share: one HTTP client, provider URLs, a TTL cache.

Built after fork (in the ingress lifespan and per worker process), never at import.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from core import log_context
from core.settings import Settings
from core.ttl_cache import TtlCache

if TYPE_CHECKING:
    from channels.web import VisitorEventPublisher

log = logging.getLogger("parley.channels")


@dataclass(frozen=True)
class ProviderUrls:
    """Where each provider lives; settings, so tests point them at the fakes."""

    whatsapp_api: str = "https://graph.facebook.com/v23.0"
    messenger_api: str = "https://graph.facebook.com/v23.0"
    slack_api: str = "https://slack.com/api"
    teams_openid_metadata: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    teams_token_url: str = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"  # noqa: S105 (a URL)


@dataclass
class ChannelRuntime:
    http: httpx.Client
    urls: ProviderUrls = field(default_factory=ProviderUrls)
    # Access tokens and signing keys, each kept for the lifetime its provider gives it.
    cache: TtlCache[str, Any] = field(default_factory=TtlCache)
    send_timeout: float = 10.0
    # Where the web channel publishes replies: the visitors' streams, given by the process.
    visitor_events: VisitorEventPublisher | None = None
    # Indicators (typing) are best effort: a slow provider must not hold the turn up.
    indicator_timeout: float = 2.0
    # Users' files (channels/media.py): the time one download may take, and whether URLs on
    # loopback and private networks may be fetched (development only).
    media_timeout: float = 15.0
    allow_private_media: bool = False

    @classmethod
    def create(
        cls,
        urls: ProviderUrls,
        send_timeout: float = 10.0,
        visitor_events: VisitorEventPublisher | None = None,
        media_timeout: float = 15.0,
        allow_private_media: bool = False,
        on_answer: CallObserver | None = None,
    ) -> ChannelRuntime:
        hooks = _hooks(on_answer)
        return cls(
            http=httpx.Client(timeout=httpx.Timeout(send_timeout, connect=5.0), event_hooks=hooks),
            urls=urls,
            send_timeout=send_timeout,
            visitor_events=visitor_events,
            media_timeout=media_timeout,
            allow_private_media=allow_private_media,
        )

    def close(self) -> None:
        self.http.close()


# Told of every answer a provider gave this runtime's client: the request's method and path (no
# query, which may carry a token), the HTTP status and the milliseconds it took.
CallObserver = Callable[[str, int, float], None]
_STARTED = "parley_started"


def _hooks(on_answer: CallObserver | None) -> dict[str, list[Callable[[Any], None]]]:
    """Every provider call carries the work's request id (``X-Request-ID``, core/log_context.py);
    with ``on_answer``, each answer is told to it too."""

    def started(request: httpx.Request) -> None:
        request.extensions[_STARTED] = time.monotonic()
        request_id = log_context.request_id()
        if request_id:
            request.headers[log_context.HEADER] = request_id

    def answered(response: httpx.Response) -> None:
        if on_answer is None:
            return
        request = response.request
        elapsed = time.monotonic() - request.extensions.get(_STARTED, time.monotonic())
        try:
            on_answer(f"{request.method} {request.url.path}", response.status_code, elapsed * 1e3)
        except Exception:  # an observer never breaks the call it observes
            log.exception("the provider-call observer failed")

    return {"request": [started], "response": [answered] if on_answer is not None else []}


def runtime_from_settings(
    settings: Settings,
    visitor_events: VisitorEventPublisher | None = None,
    on_answer: CallObserver | None = None,
) -> ChannelRuntime:
    """This process's channel runtime, pointed at the providers the settings name."""
    return ChannelRuntime.create(
        ProviderUrls(
            whatsapp_api=settings.whatsapp_api_base,
            messenger_api=settings.messenger_api_base,
            slack_api=settings.slack_api_base,
            teams_openid_metadata=settings.teams_openid_metadata_url,
            teams_token_url=settings.teams_token_url,
        ),
        send_timeout=settings.channel_send_timeout_seconds,
        visitor_events=visitor_events,
        media_timeout=settings.media_fetch_timeout_seconds,
        allow_private_media=settings.media_allow_private_addresses,
        on_answer=on_answer,
    )
