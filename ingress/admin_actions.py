"""What an admin route records in the audit trail, declared on the route, recorded by its guard.

``ApiRoute(..., audit=Audited("api_key.created", "api_key", detail=("name", "scopes")))``: the
guard (``ingress.routing``) records one entry after the handler answered: ``succeeded`` for a
2xx, ``failed`` (with the status and problem type) when the handler refused, ``denied`` when
the guard refused an authenticated credential (scope, disabled tenant). The target's id is the
path parameter ``id_param`` names, else the ``id`` of the JSON answer; ``detail`` copies those
fields of the answer, and ``fields`` says which fields of the body were given (never their
values). A handler that knows more than its route and answer says so with ``note``.

The entry's tenant is the credential's; an operator's entry is the tenant it acted on (the
``tenant_id`` path parameter, or the tenant it created), ``*`` when none. Recording is a hook:
a failure to record is logged and never fails the request the action already answered.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import Response

from core.scopes import PLATFORM_TENANT
from ingress.auth import Principal
from ingress.client_address import client_address
from ingress.state import IngressState
from storage.admin_audit import DENIED, FAILED, SUCCEEDED, Actor, Target
from storage.credentials import KEY_PREFIX

log = logging.getLogger("parley.ingress.audit")
TENANT_TARGET = "tenant"


@dataclass(frozen=True)
class Audited:
    action: str
    target: str  # the target's type
    id_param: str | None = None
    detail: tuple[str, ...] = ()
    fields: bool = False


def note(request: Request, *, target_id: str | None = None, **detail: Any) -> None:
    """What the handler knows of its action beyond its route and answer (no secrets)."""
    noted: dict[str, Any] | None = getattr(request.state, "audit_note", None)
    if noted is None:
        noted = request.state.audit_note = {"detail": {}}
    if target_id is not None:
        noted["target_id"] = target_id
    noted["detail"].update(detail)


def actor_of(principal: Principal) -> Actor:
    if principal.tenant_id == PLATFORM_TENANT:
        return {"kind": "operator", "id": principal.subject}
    if principal.credential_id.startswith("key_"):
        return {"kind": "api_key", "id": principal.credential_id}
    return {"kind": "token", "id": principal.subject}


def credential_kind(token: str | None) -> str:
    """The kind of credential presented, for a failed authentication."""
    if not token:
        return "none"
    return "api_key" if token.startswith(KEY_PREFIX) else "token"


def record_action(
    state: IngressState,
    request: Request,
    audit: Audited,
    principal: Principal,
    status: int,
    *,
    response: Response | None = None,
    problem: str | None = None,
) -> None:
    """One entry for ``audit``'s action, answered ``status`` (blocking: call from a thread)."""
    noted = getattr(request.state, "audit_note", {})
    answer = _answer_of(response)
    target_id = (
        noted.get("target_id")
        or (request.path_params.get(audit.id_param) if audit.id_param else None)
        or (str(answer["id"]) if isinstance(answer.get("id"), str) and status < 300 else None)
    )
    detail: dict[str, Any] = {name: answer[name] for name in audit.detail if name in answer}
    if audit.fields and getattr(request.state, "body_fields", None):
        detail["fields"] = request.state.body_fields
    detail.update(noted.get("detail", {}))
    if status >= 300:
        detail.update(status=status, problem=problem)
    outcome = SUCCEEDED if status < 300 else DENIED if problem in _GUARD_REFUSALS else FAILED
    target: Target = {"type": audit.target, "id": target_id}
    try:
        state.admin_audit.append(
            tenant_id=_tenant_of(request, audit, principal, target_id),
            actor=actor_of(principal),
            action=audit.action,
            target=target,
            outcome=outcome,
            client_ip=client_address(request),
            detail=detail,
        )
    except PyMongoError:
        log.exception("the audit entry for %s could not be written", audit.action)


def record_auth_failure(
    state: IngressState, request: Request, credential: str, reason: str, tenant_id: str | None
) -> None:
    """A failed authentication, counted into its minute's entry (blocking)."""
    try:
        state.admin_audit.count_auth_failure(
            tenant_id=tenant_id or PLATFORM_TENANT,
            credential=credential,
            reason=reason,
            client_ip=client_address(request),
        )
    except PyMongoError:
        log.exception("a failed authentication could not be recorded")


_GUARD_REFUSALS = ("insufficient-scope", "tenant-disabled")


def _tenant_of(
    request: Request, audit: Audited, principal: Principal, target_id: str | None
) -> str:
    if principal.tenant_id != PLATFORM_TENANT:
        return principal.tenant_id
    named = request.path_params.get("tenant_id")
    if named:
        return str(named)
    if audit.target == TENANT_TARGET and target_id:
        return target_id
    return PLATFORM_TENANT


def _answer_of(response: Response | None) -> dict[str, Any]:
    """The JSON object answered, if any (read for its ids and named fields only)."""
    if response is None or not response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        return {}
    try:
        answer = json.loads(bytes(response.body))
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
