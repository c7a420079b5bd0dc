"""One Slack Web API call and the single mapping of its answers to Parley's channel errors.

Slack answers most failed calls with HTTP 200 and ``{"ok": false, "error": <code>}``:

    HTTP 429 / ratelimited                              → RateLimited (Retry-After seconds)
    internal_error, fatal_error, service_unavailable,
    request_timeout, HTTP 5xx, timeouts, connection     → SendFailed
    any other code (channel_not_found, invalid_auth,
    message_not_found, cant_update_message, …)          → SendRejected(code)
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from channels.base import RateLimited, SendFailed, SendRejected
from channels.runtime import ChannelRuntime
from core.retry_after import retry_after_seconds

RATE_LIMIT_ERRORS = frozenset({"ratelimited", "rate_limited"})
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def call(runtime: ChannelRuntime, token: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` as JSON to ``method`` (``chat.postMessage``, ``chat.update``) with the bot
    token; Slack's ``{"ok": true, …}`` answer, or the classified error."""
    url = f"{runtime.urls.slack_api.rstrip('/')}/{method}"
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json; charset=utf-8",
    }
    content = json.dumps(body, ensure_ascii=False).encode()
    try:
        response = runtime.http.post(
            url, content=content, headers=headers, timeout=runtime.send_timeout
        )
    except httpx.TimeoutException as exc:
        raise SendFailed(f"Slack {method} timed out") from exc
    except httpx.TransportError as exc:
        raise SendFailed(f"Slack {method} failed: {type(exc).__name__}") from exc
    status = response.status_code
    try:
        data = response.json()
    except ValueError:
        data = None
    data = data if isinstance(data, dict) else {}
    error = str(data.get("error") or "")
    label = f"Slack {method}: {error or 'no error code'} (HTTP {status})"
    if status == 429 or error in RATE_LIMIT_ERRORS:
        raise RateLimited(label, retry_after_seconds(response.headers))
    if status >= 500 or error in TRANSIENT_ERRORS:
        raise SendFailed(label)
    if status < 300 and data.get("ok") is True:
        return data
    if error or status >= 400:
        raise SendRejected(label, code=error or f"http_{status}")
    raise SendFailed(label)  # a 2xx that is not Slack's answer (a proxy page): try again later
