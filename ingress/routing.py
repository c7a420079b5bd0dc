"""Routes that need a credential declare the scope they need, next to the path.

``ApiRoute(path, endpoint, methods=[...], scope=...)`` is a Starlette ``Route`` whose endpoint
runs behind a guard: authenticate (401), refuse a source with too many failed attempts (429),
refuse a disabled tenant (403), check the scope (403), spend the tenant's and the credential's
rate-limit tokens (429), then call the endpoint with ``request.state.principal`` set. The
route table is the single place that says which route needs what: the OpenAPI generator and
the cross-tenant test matrix read ``route.scope`` from it.
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

from ingress import rate_limit
from ingress.auth import Principal, bearer_token
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
        # ``self.endpoint`` stays the handler itself (the OpenAPI table is keyed by it).
        self.app = request_response(_guarded(endpoint, scope))


def _guarded(endpoint: Endpoint, scope: str) -> Endpoint:
    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        state: IngressState = request.state.parley
        try:
            principal, verdict = await run_in_threadpool(_admit, state, request, scope)
        except RedisError:
            raise Problem(
                503,
                "unavailable",
                "Service unavailable",
                "rate limits cannot be checked right now; retry later",
                headers={"Retry-After": "1"},
            ) from None
        request.state.principal = principal
        request.state.answer_headers = rate_limit.headers(verdict)  # errors carry them too
        response = await endpoint(request)
        response.headers.update(request.state.answer_headers)
        return response

    return guarded


def _admit(state: IngressState, request: Request, scope: str) -> tuple[Principal, Verdict]:
    source = request.client.host if request.client else "unknown"
    failures = rate_limit.failure_bucket(state.limiter, state.settings, source)
    try:
        token = bearer_token(request)
        # Checking a JWT costs only CPU, so a locked-out source is refused after it, in the
        # same Redis call as the rate limits (one round trip). An API key or a Security Hub
        # call costs a lookup, so a locked-out source is refused before it. Either way a
        # locked-out source gets 429 whatever it sends, and learns nothing about a credential.
        costly = state.hub is not None or token.startswith(KEY_PREFIX)
        if costly and not state.limiter.take([failures], cost=0).allowed:
            raise _locked_out(state.limiter.take([failures], cost=0))
        principal = state.authenticator.authenticate(token)
    except Problem as problem:
        if problem.status == 401:
            log.info("authentication failed from %s: %s", source, problem.detail)
            counted = state.limiter.take([failures])
            if not counted.allowed:
                raise _locked_out(counted) from None
        raise
    tenant = state.tenants.status(principal.tenant_id)
    if not tenant.active:
        raise Problem(403, "tenant-disabled", "Forbidden", "this tenant is disabled")
    state.authenticator.authorize(principal, scope, request.url.path)
    buckets = rate_limit.request_buckets(
        state.limiter, state.settings, principal, tenant.rate_limits
    )
    verdict = state.limiter.take(buckets, gates=() if costly else (failures,))
    if not verdict.allowed:
        if verdict.bucket == failures.name:
            raise _locked_out(verdict)
        raise rate_limit.too_many(verdict, f"the {verdict.bucket}'s rate limit is exhausted")
    return principal, verdict


def _locked_out(verdict: Verdict) -> Problem:
    return rate_limit.too_many(verdict, "too many failed authentications from this address")
