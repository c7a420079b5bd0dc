"""What WhatsApp and Messenger share as Meta Graph API channels: the webhook handshake, the
``X-Hub-Signature-256`` check, the classification of Graph error bodies, and the call that
shows the user an indicator rather than a message (typing).

Graph errors are classified by ``error.code`` (and ``error_subcode``), never by HTTP status:
Meta answers rate limits with 400 as often as with 429.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from channels.base import ChannelError, RateLimited, SendFailed, SendRejected, VerificationFailed
from channels.runtime import ChannelRuntime
from core.envelopes import ChannelConfig, Headers

# Throttling codes: throughput (130429), pair rate (131056), WABA/app/user Graph limits
# (80007, 4, 17), Messenger's per-call limit (613).
RATE_LIMIT_CODES = frozenset({130429, 131056, 80007, 4, 17, 613})
# Unknown / service unavailable / unexpected, and media transfer hiccups: retry with backoff.
# Messenger's 1200 is a temporary send failure.
TRANSIENT_CODES = frozenset({1, 2, 1200, 131000, 131016, 131052, 131053})


class MetaWebhooks:
    """The webhook half WhatsApp and Messenger share: Meta's subscribe handshake answered with the
    config's ``verify_token``, and ``X-Hub-Signature-256`` checked under its ``app_secret``."""

    def handshake(self, query: Mapping[str, str], config: ChannelConfig) -> str:
        return hub_handshake(query, config.secrets.get("verify_token", ""))

    def verify(
        self, headers: Headers, raw_body: bytes, config: ChannelConfig, runtime: ChannelRuntime
    ) -> None:
        verify_hub_signature(headers, raw_body, config.secrets.get("app_secret", ""))


def webhook_json(raw_body: bytes, provider: str) -> Any:
    """The webhook body as JSON; a signed body that is not JSON is no webhook of ours."""
    try:
        return json.loads(raw_body)
    except ValueError as exc:
        raise VerificationFailed(f"the {provider} webhook body is not JSON") from exc


def hub_handshake(query: Mapping[str, str], verify_token: str) -> str:
    """The challenge to echo when Meta's subscribe handshake presents our verify token."""
    mode = query.get("hub.mode", "")
    token = query.get("hub.verify_token", "")
    challenge = query.get("hub.challenge", "")
    if mode != "subscribe" or not challenge:
        raise VerificationFailed("not a subscribe handshake")
    if not verify_token or not hmac.compare_digest(token.encode(), verify_token.encode()):
        raise VerificationFailed("verify token does not match")
    return challenge


def verify_hub_signature(headers: Headers, raw_body: bytes, app_secret: str) -> None:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``, compared in
    constant time over the bytes as received (never re-serialised JSON)."""
    header = headers.get("x-hub-signature-256", "")
    scheme, _, received = header.partition("=")
    if scheme != "sha256" or not received:
        raise VerificationFailed("missing X-Hub-Signature-256")
    if not app_secret:
        raise VerificationFailed("the channel config has no app secret")
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest().encode()
    # Bytes, not str: compare_digest refuses non-ASCII strings, and the header is the caller's.
    if not hmac.compare_digest(expected, received.strip().lower().encode()):
        raise VerificationFailed("signature does not match")


def graph_error(
    status: int,
    body: Any,
    retry_after: float | None,
    permanent_codes: Collection[int] = (),
) -> ChannelError:
    """The typed error for a failed Graph call. 5xx without a known code is transient."""
    error = body.get("error", {}) if isinstance(body, Mapping) else {}
    code = error.get("code") if isinstance(error, Mapping) else None
    message = str(error.get("message", "")) if isinstance(error, Mapping) else ""
    label = f"graph error {code} (HTTP {status}): {message[:200]}"
    if code in RATE_LIMIT_CODES or status == 429:
        return RateLimited(label, retry_after)
    if code in TRANSIENT_CODES or (code not in permanent_codes and status >= 500):
        return SendFailed(label)
    if isinstance(error, Mapping) and error.get("is_transient") is True:
        return SendFailed(label)
    subcode = error.get("error_subcode") if isinstance(error, Mapping) else None
    if code is None:
        return SendRejected(label, code=None)
    # The subcode tells Messenger's "outside the 24-hour window" (10/2018278) from other 10s.
    return SendRejected(label, code=f"{code}/{subcode}" if subcode else str(code))


def post_indicator(
    runtime: ChannelRuntime, url: str, token: str, body: Mapping[str, Any], provider: str
) -> None:
    """One Graph call showing the user an indicator (no message, no id to keep), within the
    runtime's short ``indicator_timeout``; the typed error when it fails."""
    headers = {"Authorization": f"Bearer {token}"}
    try:
        response = runtime.http.post(
            url, json=body, headers=headers, timeout=runtime.indicator_timeout
        )
    except httpx.HTTPError as exc:
        raise SendFailed(f"{provider} indicator failed: {type(exc).__name__}") from exc
    if response.is_success:
        return
    try:
        answer = response.json()
    except ValueError:
        answer = None
    raise graph_error(response.status_code, answer, None)
