"""Routes that need a credential declare the scope they need, next to the path.

``ApiRoute(path, endpoint, methods=[...], scope=...)`` is a Starlette ``Route`` whose endpoint
runs behind a guard: authenticate (401, or 429 once the failures of its address or of the
credential it presents exceed their allowance), refuse a disabled tenant (403), check the scope
(403), spend the tenant's and the credential's rate-limit tokens (429), then call the endpoint
with ``request.state.principal`` set, and, for a route declaring ``audit=Audited(...)``, record
the action in the audit trail once it was answered (``ingress.admin_actions``); a failed
authentication is counted there too. The route table is the single place that says which
route needs what: the OpenAPI generator and the cross-tenant test matrix read ``route.scope``
from it.

Failures never refuse a credential that verifies: behind a proxy or NAT one address speaks for
many callers, and a key id is not secret, so neither count may lock out a valid credential.
The one exception keeps guessing expensive: a credential whose check costs a lookup (an API
key, or anything with a Security Hub) is refused unchecked when *both* its address and the
credential it presents have used up their allowance — one address hammering one key.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response

from core.errors import TransientError
from core.scopes import PLATFORM_TENANT
from core.system_events import auth_event
from ingress import rate_limit
from ingress.admin_actions import Audited, credential_kind, record_action, record_auth_failure
from ingress.auth import Principal, Unauthorized, bearer_token
from ingress.client_address import client_address
from ingress.problems import Problem, answered_as
from ingress.state import IngressState
from storage.credentials import KEY_PREFIX
from storage.rate_limits import Verdict

Endpoint = Callable[[Request], Awaitable[Response]]
log = logging.getLogger("parley.ingress.auth")


class ApiRoute(Route):
    def __init__(
        self,
        path: str,
        endpoint: Endpoint,
        *,
        methods: list[str],
        scope: str,
        audit: Audited | None = None,
    ) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.scope = scope
        self.audit = audit
        # ``self.endpoint`` stays the handler itself: its ``@documented`` entry is keyed by it.
        self.app = request_response(_guarded(endpoint, scope, audit))


def _guarded(endpoint: Endpoint, scope: str, audit: Audited | None) -> Endpoint:
    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        state: IngressState = request.state.parley
        try:
            principal, verdict = await run_in_threadpool(_admit, state, request, scope, audit)
        except RedisError as exc:  # answered 503 by ``ingress.problems``
            raise TransientError("rate limits cannot be checked right now; retry later") from exc
        request.state.principal = principal
        request.state.answer_headers = rate_limit.headers(verdict)  # errors carry them too
        if audit is None:
            response = await endpoint(request)
        else:
            response = await _recorded(endpoint, request, state, audit, principal)
        response.headers.update(request.state.answer_headers)
        return response

    return guarded


async def _recorded(
    endpoint: Endpoint, request: Request, state: IngressState, audit: Audited, who: Principal
) -> Response:
    """The endpoint's answer, with its action recorded in the audit trail."""
    try:
        response = await endpoint(request)
    except Exception as exc:
        status, slug = answered_as(exc)
        await run_in_threadpool(record_action, state, request, audit, who, status, problem=slug)
        raise
    await run_in_threadpool(
        record_action, state, request, audit, who, response.status_code, response=response
    )
    return response


def _admit(
    state: IngressState, request: Request, scope: str, audit: Audited | None
) -> tuple[Principal, Verdict]:
    source = client_address(request)
    failures = [rate_limit.address_failures(state.limiter, state.settings, source)]
    token: str | None = None
    try:
        token = bearer_token(request)
        failures.append(rate_limit.credential_failures(state.limiter, state.settings, token))
        # A JWT costs only CPU to check, so it is always checked; a lookup is spared when this
        # address has failed too often with this very credential.
        if state.hub is not None or token.startswith(KEY_PREFIX):
            looks = state.limiter.peek(failures)
            if not any(look.allowed for look in looks):
                raise _locked_out(min(looks, key=lambda look: look.retry_after))
        principal = state.authenticator.authenticate(token)
    except Problem as problem:
        if problem.status == 401:
            log.info("authentication failed from %s: %s", source, problem.detail)
            reason = problem.reason if isinstance(problem, Unauthorized) else "invalid"
            owner = problem.tenant_id if isinstance(problem, Unauthorized) else None
            record_auth_failure(state, request, credential_kind(token), reason, owner)
            state.observations.add(
                auth_event(
                    owner or PLATFORM_TENANT,
                    credential_kind(token),
                    False,
                    request.url.path,
                    reason=reason,
                )
            )
            counted = state.limiter.take_each(failures)
            if not counted.allowed:  # past the allowance the caller learns nothing more
                raise _locked_out(counted) from None
        raise
    state.observations.add(
        auth_event(principal.tenant_id, credential_kind(token), True, request.url.path)
    )
    try:
        tenant = state.tenants.status(principal.tenant_id)
        if not tenant.active:
            raise Problem(403, "tenant-disabled", "Forbidden", "this tenant is disabled")
        state.authenticator.authorize(principal, scope, request.url.path)
    except Problem as refused:
        if audit is not None and refused.status == 403:
            record_action(state, request, audit, principal, 403, problem=refused.slug)
        raise
    buckets = rate_limit.request_buckets(
        state.limiter, state.settings, principal, tenant.rate_limits
    )
    verdict = state.limiter.take(buckets)
    if not verdict.allowed:
        raise rate_limit.too_many(verdict, f"the {verdict.bucket}'s rate limit is exhausted")
    return principal, verdict


def _locked_out(verdict: Verdict) -> Problem:
    if verdict.bucket == rate_limit.ADDRESS_FAILURES:
        return rate_limit.too_many(verdict, "too many failed authentications from this address")
    return rate_limit.too_many(verdict, "too many failed authentications with this credential")
