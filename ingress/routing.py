"""Routes that need a credential declare the scope they need, next to the path.

``ApiRoute(path, endpoint, methods=[...], scope=...)`` is a Starlette ``Route`` whose endpoint
runs behind a guard: authenticate (401, or 429 once the failures of its address or of the
credential it presents exceed their allowance), refuse a disabled tenant (403), check the scope
(403), spend the tenant's and the credential's rate-limit tokens (429), then call the endpoint
with ``request.state.principal`` set. The route table is the single place that says which
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
from ingress.auth import Principal, bearer_token
from ingress.client_address import client_address
from ingress.problems import Problem
from ingress.state import IngressState
from storage.credentials import KEY_PREFIX
from storage.rate_limits import Verdict

Endpoint = Callable[[Request], Awaitable[Response]]
log = logging.getLogger("parley.ingress.auth")


class ApiRoute(Route):
    def __init__(self, path: str, endpoint: Endpoint, *, methods: list[str], scope: str) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.scope = scope
        # ``self.endpoint`` stays the handler itself: its ``@documented`` entry is keyed by it.
        self.app = request_response(_guarded(endpoint, scope))


def _guarded(endpoint: Endpoint, scope: str) -> Endpoint:
    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        state: IngressState = request.state.parley
        try:
            principal, verdict = await run_in_threadpool(_admit, state, request, scope)
        except RedisError as exc:  # answered 503 by ``ingress.problems``
            raise TransientError("rate limits cannot be checked right now; retry later") from exc
        request.state.principal = principal
        request.state.answer_headers = rate_limit.headers(verdict)  # errors carry them too
        response = await endpoint(request)
        response.headers.update(request.state.answer_headers)
        return response

    return guarded


def _admit(state: IngressState, request: Request, scope: str) -> tuple[Principal, Verdict]:
    source = client_address(request)
    failures = [rate_limit.address_failures(state.limiter, state.settings, source)]
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
            state.observations.add(
                auth_event(
                    PLATFORM_TENANT,
                    _credential_kind(state, request),
                    False,
                    request.url.path,
                    reason=problem.detail,
                )
            )
            counted = state.limiter.take_each(failures)
            if not counted.allowed:  # past the allowance the caller learns nothing more
                raise _locked_out(counted) from None
        raise
    state.observations.add(
        auth_event(principal.tenant_id, _credential_kind(state, request), True, request.url.path)
    )
    tenant = state.tenants.status(principal.tenant_id)
    if not tenant.active:
        raise Problem(403, "tenant-disabled", "Forbidden", "this tenant is disabled")
    state.authenticator.authorize(principal, scope, request.url.path)
    buckets = rate_limit.request_buckets(
        state.limiter, state.settings, principal, tenant.rate_limits
    )
    verdict = state.limiter.take(buckets)
    if not verdict.allowed:
        raise rate_limit.too_many(verdict, f"the {verdict.bucket}'s rate limit is exhausted")
    return principal, verdict


def _credential_kind(state: IngressState, request: Request) -> str:
    """What kind of credential the request offered (never the credential itself)."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return "none"
    if state.hub is not None:
        return "security_hub"
    return "api_key" if header[7:].strip().startswith(KEY_PREFIX) else "token"


def _locked_out(verdict: Verdict) -> Problem:
    if verdict.bucket == rate_limit.ADDRESS_FAILURES:
        return rate_limit.too_many(verdict, "too many failed authentications from this address")
    return rate_limit.too_many(verdict, "too many failed authentications with this credential")
