"""Tenant isolation by construction: every public method of a repository of tenant data takes
the tenant as a required argument. The few that cannot (authentication finds the tenant from
the credential, a webhook from its config, beat jobs work across tenants) are listed here with
the reason, so a new unscoped method fails this test until someone writes down why."""

from __future__ import annotations

import inspect

import pytest

from storage.audit import AuditRepository
from storage.channel_configs import ChannelConfigRepository
from storage.conversations import ConversationRepository
from storage.credentials import ApiKeyRepository
from storage.dead_letters import DeadLetterRepository
from storage.messages import MessageRepository
from storage.provider_reports import ProviderReports
from storage.sessions import SessionStore
from storage.turn_order import TurnOrder

TENANT_REPOSITORIES: list[type] = [
    AuditRepository,
    ChannelConfigRepository,
    ConversationRepository,
    ApiKeyRepository,
    DeadLetterRepository,
    MessageRepository,
    ProviderReports,
    SessionStore,
    TurnOrder,
]

UNSCOPED: dict[str, str] = {
    "ChannelConfigRepository.for_webhook": "a webhook's tenant is the one owning the config",
    "ApiKeyRepository.check": "authentication: the key names its tenant",
    "ApiKeyRepository.verify": "authentication: the key names its tenant",
    "MessageRepository.insert_once": "the new document carries its tenant_id",
    "MessageRepository.insert_reply": "the new document carries its tenant_id",
    "MessageRepository.release_idempotency_keys": "beat job across tenants",
    "MessageRepository.stuck": "the reconciler's scan across tenants",
    "ConversationRepository.idle": "the idle beat job's scan; one tenant's when given",
    "MessageRepository.turns_in_flight": "rebuilding the turn-order index across tenants",
    "SessionStore.save": "the session carries its tenant_id",
    "TurnOrder.rebuild": "each entry it restores carries its tenant_id",
    "TurnOrder.parked": "the reconciler's look across tenants; each entry names its tenant_id",
}


def public_methods() -> list[tuple[str, inspect.Signature]]:
    found = []
    for cls in TENANT_REPOSITORIES:
        for name, function in inspect.getmembers(cls, inspect.isfunction):
            if not name.startswith("_"):
                found.append((f"{cls.__name__}.{name}", inspect.signature(function)))
    return found


@pytest.mark.parametrize(("name", "signature"), public_methods(), ids=lambda v: str(v))
def test_every_repository_method_takes_the_tenant(name: str, signature: inspect.Signature) -> None:
    if name in UNSCOPED:
        return
    tenant = signature.parameters.get("tenant_id")
    assert tenant is not None, f"{name} takes no tenant_id: scope it, or say why in UNSCOPED"
    assert tenant.default is inspect.Parameter.empty, f"{name}: tenant_id must be required"


def test_the_unscoped_list_names_only_methods_that_exist() -> None:
    existing = {name for name, _ in public_methods()}
    assert set(UNSCOPED) <= existing, sorted(set(UNSCOPED) - existing)
