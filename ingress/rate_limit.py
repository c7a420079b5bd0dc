"""Rate limits at the ingress: per tenant and per credential, and failed authentications per
source address and per presented credential, answered 429 with ``Retry-After`` and
``RateLimit-*`` headers.

A presented credential is named for its failure count by what it shows without a lookup: an
API key by its key id (not secret), anything else by its SHA-256 (never the token itself).

Limits come from the tenant's record (``rate_limits``), else from the settings' defaults.
Webhook deliveries are not limited here: a provider answered 429 retries, and its own send
limits already bound what it delivers; a disabled tenant's webhooks are refused instead. Failed
webhook handshakes are limited, per channel config.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from core.settings import Settings
from core.visitor_tokens import Visitor
from ingress.auth import Principal
from ingress.problems import Problem
from storage.credentials import presented_key_id
from storage.rate_limits import Bucket, RateLimiter, Verdict


def request_buckets(
    limiter: RateLimiter, settings: Settings, principal: Principal, limits: dict[str, Any]
) -> list[Bucket]:
    tenant = principal.tenant_id
    return [
        Bucket(
            "tenant",
            limiter.key("tenant", tenant),
            float(limits.get("per_second") or settings.rate_limit_tenant_per_second),
            int(limits.get("burst") or settings.rate_limit_tenant_burst),
        ),
        Bucket(
            "credential",
            limiter.key("credential", tenant, principal.credential_id),
            float(limits.get("credential_per_second") or settings.rate_limit_credential_per_second),
            int(limits.get("credential_burst") or settings.rate_limit_credential_burst),
        ),
    ]


ADDRESS_FAILURES = "auth-failures"
CREDENTIAL_FAILURES = "credential-auth-failures"


def address_failures(limiter: RateLimiter, settings: Settings, source: str) -> Bucket:
    """Failed authentications from one source address."""
    return Bucket(
        ADDRESS_FAILURES,
        limiter.key("authfail", "addr", source),
        settings.auth_failure_per_second,
        settings.auth_failure_burst,
    )


def credential_failures(limiter: RateLimiter, settings: Settings, token: str) -> Bucket:
    """Failed authentications presenting one API key id, or one token."""
    key_id = presented_key_id(token)
    if key_id is not None:
        key = limiter.key("authfail", "key", key_id)
    else:
        key = limiter.key("authfail", "token", hashlib.sha256(token.encode()).hexdigest())
    return Bucket(
        CREDENTIAL_FAILURES, key, settings.auth_failure_per_second, settings.auth_failure_burst
    )


def handshake_failures(limiter: RateLimiter, settings: Settings, config_id: str) -> Bucket:
    """Failed webhook handshakes for one channel config."""
    return Bucket(
        "handshake-failures",
        limiter.key("handshakefail", config_id),
        settings.handshake_failure_per_second,
        settings.handshake_failure_burst,
    )


def visitor_messages(limiter: RateLimiter, settings: Settings, visitor: Visitor) -> Bucket:
    """Message frames of one web visitor on one widget, whichever socket they come by."""
    return Bucket(
        "visitor-messages",
        limiter.key("visitor-messages", visitor.tenant_id, visitor.widget_id, visitor.visitor_id),
        settings.visitor_message_per_second,
        settings.visitor_message_burst,
    )


def widget_bucket(limiter: RateLimiter, settings: Settings, widget_id: str) -> Bucket:
    """Visitor sessions opened on one widget, all its visitors together."""
    return Bucket(
        "widget",
        limiter.key("widget", widget_id),
        settings.rate_limit_widget_per_second,
        settings.rate_limit_widget_burst,
    )


def visitor_bucket(limiter: RateLimiter, settings: Settings, *who: str) -> Bucket:
    """One web visitor's requests: named by (tenant, widget, visitor), or by its address
    while it has no id yet."""
    return Bucket(
        "visitor",
        limiter.key("visitor", *who),
        settings.rate_limit_visitor_per_second,
        settings.rate_limit_visitor_burst,
    )


def headers(verdict: Verdict) -> dict[str, str]:
    """The ``RateLimit-*`` fields (IETF httpapi draft), plus ``Retry-After`` on a refusal."""
    answer = {
        "RateLimit-Limit": str(verdict.limit),
        "RateLimit-Remaining": str(verdict.remaining),
        "RateLimit-Reset": str(verdict.reset),
    }
    if not verdict.allowed:
        answer["Retry-After"] = str(max(1, math.ceil(verdict.retry_after)))
    return answer


def too_many(verdict: Verdict, detail: str) -> Problem:
    return Problem(
        429,
        "rate-limited",
        "Too many requests",
        detail,
        headers=headers(verdict),
        limit=verdict.bucket,
    )
