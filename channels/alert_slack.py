"""Alerts to Slack: ``{"text": …}`` posted to a tenant's incoming-webhook URL.

The URL is the tenant's, so it goes out through the webhooks' poster (channels/webhook_post.py):
connected only to a checked public address, https only, no redirects, unless development
allows private hosts (``PARLEY_WEBHOOKS_ALLOW_PRIVATE``). A 2xx is sent; 429, 5xx or no answer
is ``AlertNotSent``; any other status (Slack's 400 ``invalid_payload``, 403, 404
``no_service``, 410 ``channel_is_archived``) is ``AlertRefused``.
"""

from __future__ import annotations

import json

import httpx

from channels.alerts import Alert, AlertNotSent, AlertRefused
from channels.webhook_post import WebhookUnreachable, post_signed

TOO_MANY_REQUESTS = 429


def send_slack(client: httpx.Client, url: str, alert: Alert, allow_private: bool) -> None:
    if not allow_private and not url.startswith("https:"):
        raise AlertRefused("only https Slack URLs are called")
    body = json.dumps({"text": f"*{alert.title}*\n{alert.text}"}).encode()
    try:
        answer = post_signed(client, url, body, {})
    except WebhookUnreachable as exc:
        raise AlertNotSent(str(exc)) from exc
    if answer.delivered:
        return
    if answer.status_code == TOO_MANY_REQUESTS or answer.status_code >= 500:
        raise AlertNotSent(f"Slack answered HTTP {answer.status_code}")
    raise AlertRefused(f"Slack answered HTTP {answer.status_code}")
