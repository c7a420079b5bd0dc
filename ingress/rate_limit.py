"""Rate limits at the ingress: per tenant and per credential, and failed authentications per
source address, answered 429 with ``Retry-After`` and ``RateLimit-*`` headers.

Limits come from the tenant's record (``rate_limits``), else from the settings' defaults.
Webhooks are not limited here: a provider answered 429 retries, and its own send limits already
bound what it delivers; a disabled tenant's webhooks are refused instead.
"""

from __future__ import annotations

import math
from typing import Any

from core.settings import Settings
from ingress.auth import Principal
from ingress.problems import Problem
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


def failure_bucket(limiter: RateLimiter, settings: Settings, source: str) -> Bucket:
    return Bucket(
        "auth-failures",
        limiter.key("authfail", source),
        settings.auth_failure_per_second,
        settings.auth_failure_burst,
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
