"""Permission checks: an API key's scopes decide what its holder may do in its tenant."""

from __future__ import annotations

from dataclasses import dataclass

from services.security_hub.tokens import tenant_is_disabled
from storage.credentials import ApiKeyRepository
from storage.tenants import TenantRepository

ADMIN_SCOPE = "admin"


@dataclass(frozen=True)
class PermissionVerdict:
    allowed: bool
    reason: str = ""  # why not; empty when allowed


class PermissionChecker:
    """Grants a permission to a key whose scopes name it or ``admin``.

    The subject is a key id. A JWT's subject is unknown here: its scopes travel in the token,
    so only ValidateToken can report them. Scopes are tenant-wide in this reference hub, so the
    resource is accepted for hubs with finer policies and otherwise ignored.
    """

    def __init__(self, keys: ApiKeyRepository, tenants: TenantRepository) -> None:
        self._keys = keys
        self._tenants = tenants

    def check(self, tenant_id: str, subject: str, permission: str) -> PermissionVerdict:
        key = self._keys.get(tenant_id, subject)
        if key is None:
            return PermissionVerdict(False, "unknown_subject")
        if key.get("state") != "active":
            return PermissionVerdict(False, "revoked")
        if tenant_is_disabled(self._tenants, tenant_id):
            return PermissionVerdict(False, "tenant_disabled")
        scopes = set(key["scopes"])
        if permission in scopes or ADMIN_SCOPE in scopes:
            return PermissionVerdict(True)
        return PermissionVerdict(False, "missing_scope")
