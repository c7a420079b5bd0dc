"""A Messenger Page's profile: its Get Started button, welcome-screen greeting and persistent
menu, set through Graph's Messenger Profile API (``POST /me/messenger_profile``) with the page
token, as a header (a URL is logged, a header is not).

``apply_profile`` sends the whole profile Parley keeps for the page; a property the tenant
dropped is cleared with ``DELETE /me/messenger_profile`` (``{"fields": [...]}``), so the page
shows what the channel config says and nothing older. One call each, explicit timeout, typed
errors (``channels.meta.graph_error``); Meta limits these calls to 10 per 10 minutes per page,
which is why only an admin's save makes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from channels.base import SendFailed, SendRejected
from channels.meta import graph_error
from channels.runtime import ChannelRuntime
from core.envelopes import ChannelConfig
from core.retry_after import retry_after_seconds

# The properties Parley manages; others (ice breakers, whitelisted domains) are left alone.
PROPERTIES = ("get_started", "greeting", "persistent_menu")


def apply_profile(
    profile: Mapping[str, Any], config: ChannelConfig, runtime: ChannelRuntime
) -> None:
    """Make the page's profile ``profile`` (``PROPERTIES`` only): set what it has, clear what
    it lacks."""
    token = config.secrets.get("page_token", "")
    if not token:
        raise SendRejected("the Messenger channel config has no page_token", code="config")
    url = f"{runtime.urls.messenger_api.rstrip('/')}/me/messenger_profile"
    kept = {name: profile[name] for name in PROPERTIES if profile.get(name)}
    dropped = [name for name in PROPERTIES if name not in kept]
    # The menu needs the Get Started button: clear it first, set the button first.
    if dropped:
        _call(runtime, "DELETE", url, token, {"fields": dropped})
    if kept:
        _call(runtime, "POST", url, token, kept)


def _call(runtime: ChannelRuntime, method: str, url: str, token: str, body: Any) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    try:
        response = runtime.http.request(
            method, url, json=body, headers=headers, timeout=runtime.send_timeout
        )
    except httpx.TimeoutException as exc:
        raise SendFailed("the Messenger Profile API timed out") from exc
    except httpx.TransportError as exc:
        raise SendFailed(f"the Messenger Profile API failed: {type(exc).__name__}") from exc
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.is_success and isinstance(answer, dict) and answer.get("result") == "success":
        return
    if response.is_success:
        raise SendFailed(f"the Messenger Profile API answered HTTP {response.status_code}")
    raise graph_error(response.status_code, answer, retry_after_seconds(response.headers))
