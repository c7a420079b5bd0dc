"""Scopes: what a credential may do. Each route declares the one it needs (``ingress.routing``).

Tenant scopes act inside the credential's own tenant. ``admin`` is the platform operator's: it
is honoured only on a credential for the platform itself (tenant ``*``), never on a tenant's, so
no tenant key or token can reach ``/v1/admin/tenants``. The operator's ``admin`` also reads
every tenant's audit trail (``audit:read``), which a tenant's reads for itself only.
"""

from __future__ import annotations

MESSAGES_WRITE = "messages:write"
MESSAGES_READ = "messages:read"
CONVERSATIONS_READ = "conversations:read"
CONVERSATIONS_MANAGE = "conversations:manage"
CHANNELS_MANAGE = "channels:manage"
DEADLETTERS_READ = "deadletters:read"
DEADLETTERS_MANAGE = "deadletters:manage"
PRIVACY_MANAGE = "privacy:manage"
WEBHOOKS_MANAGE = "webhooks:manage"
NOTIFICATIONS_MANAGE = "notifications:manage"
AUDIT_READ = "audit:read"
ANALYTICS_READ = "analytics:read"
ADMIN = "admin"

TENANT_SCOPES = frozenset(
    {
        MESSAGES_WRITE,
        MESSAGES_READ,
        CONVERSATIONS_READ,
        CONVERSATIONS_MANAGE,
        CHANNELS_MANAGE,
        DEADLETTERS_READ,
        DEADLETTERS_MANAGE,
        PRIVACY_MANAGE,
        WEBHOOKS_MANAGE,
        NOTIFICATIONS_MANAGE,
        AUDIT_READ,
        ANALYTICS_READ,
    }
)
# A token without a ``scope`` claim (``parley token``, ``core.tokens.mint_token``) may do
# everything a tenant may: the holder of the signing secret could mint any scope anyway.
DEFAULT_TENANT_SCOPES = TENANT_SCOPES

# The tenant claim of a platform operator's credential; no tenant can be called this.
PLATFORM_TENANT = "*"


def effective_scopes(tenant_id: str, claimed: frozenset[str]) -> frozenset[str]:
    """The scopes a credential really has: ``admin`` only for the platform, tenant scopes only
    for a tenant; unknown scopes are dropped."""
    if tenant_id == PLATFORM_TENANT:
        return claimed & {ADMIN} | ({AUDIT_READ} if ADMIN in claimed else set())
    return claimed & TENANT_SCOPES
