"""RFC 9457 problem details: every error the ingress answers is ``application/problem+json``.

``Problem`` is the exception a handler raises; its body is an ``api_models.ProblemDetails``.
``EXCEPTION_HANDLERS`` maps the error tree to problems once: ``NotFound`` → 404, ``Conflict``
→ 409, and ``TransientError`` or a store's connection error → 503 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.errors import Conflict, NotFound, TransientError
from ingress.api_models import ProblemDetails, json_of
from tasks.policy import INFRASTRUCTURE_ERRORS

PROBLEM_TYPE_BASE = "https://parley.dev/problems/"
PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An HTTP error to answer as problem+json; raise it from anywhere in a handler."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str) -> Any:
        details = ProblemDetails(
            type=PROBLEM_TYPE_BASE + self.slug,
            title=self.title,
            status=self.status,
            instance=instance,
            detail=self.detail or None,
            **self.extra,
        )
        return json_of(details)


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def problem_response(problem: Problem, request: Request) -> Response:
    # Headers the route's guard decided before the handler failed (``RateLimit-*``).
    headers = {**getattr(request.state, "answer_headers", {}), **problem.headers}
    return ProblemResponse(
        problem.body(request.url.path), status_code=problem.status, headers=headers
    )


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc, request)


async def handle_not_found(request: Request, exc: Exception) -> Response:
    return problem_response(Problem(404, "not-found", "Not found", str(exc)), request)


async def handle_conflict(request: Request, exc: Exception) -> Response:
    return problem_response(Problem(409, "conflict", "Conflict", str(exc)), request)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    status = int(getattr(exc, "status_code", 500))
    titles = {404: "Not found", 405: "Method not allowed"}
    slug = {404: "not-found", 405: "method-not-allowed"}.get(status, "http-error")
    headers = dict(getattr(exc, "headers", None) or {})  # e.g. Allow on a 405
    problem = Problem(status, slug, titles.get(status, "HTTP error"), headers=headers)
    return problem_response(problem, request)


async def handle_unavailable(request: Request, exc: Exception) -> Response:
    # A store or service that timed out or went away is the platform's passing trouble, not
    # the caller's: 503 with a retry hint (a provider retries its webhook), never a 500.
    # Our own TransientErrors say what could not be done; a driver's error only its type.
    detail = (
        str(exc)
        if isinstance(exc, TransientError)
        else f"a service Parley depends on did not answer ({type(exc).__name__}); try again"
    )
    problem = Problem(
        503, "unavailable", "Service unavailable", detail, headers={"Retry-After": "1"}
    )
    return problem_response(problem, request)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    return problem_response(
        Problem(500, "internal", "Internal error", "the error was logged"), request
    )


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    Problem: handle_problem,
    NotFound: handle_not_found,
    Conflict: handle_conflict,
    TransientError: handle_unavailable,
    **dict.fromkeys(INFRASTRUCTURE_ERRORS, handle_unavailable),
}


def answered_as(exc: Exception) -> tuple[int, str]:
    """The status and problem type ``EXCEPTION_HANDLERS`` answer ``exc`` with."""
    if isinstance(exc, Problem):
        return exc.status, exc.slug
    if isinstance(exc, NotFound):
        return 404, "not-found"
    if isinstance(exc, Conflict):
        return 409, "conflict"
    if isinstance(exc, (TransientError, *INFRASTRUCTURE_ERRORS)):
        return 503, "unavailable"
    return 500, "internal"
