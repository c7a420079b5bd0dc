"""The one mapping from the error tree to problems: ``TransientError`` and a store's connection
error answer 503 ``unavailable`` with ``Retry-After``, whichever handler raised them."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from core.errors import NotFound, TransientError
from ingress.problems import EXCEPTION_HANDLERS, Problem
from tasks.policy import INFRASTRUCTURE_ERRORS


def _raising(exc: Exception) -> Route:
    async def endpoint(request: Request) -> Response:
        raise exc

    return Route(f"/{type(exc).__name__}", endpoint)


def _answers(*errors: Exception) -> TestClient:
    app = Starlette(routes=[_raising(exc) for exc in errors], exception_handlers=EXCEPTION_HANDLERS)
    return TestClient(app, raise_server_exceptions=False)


def test_a_transient_error_is_a_503_that_says_what_could_not_be_done() -> None:
    client = _answers(TransientError("the message could not be queued; retry later"))
    answer = client.get("/TransientError")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "1"
    assert answer.json() == {
        "type": "https://parley.dev/problems/unavailable",
        "title": "Service unavailable",
        "status": 503,
        "detail": "the message could not be queued; retry later",
        "instance": "/TransientError",
    }


def test_a_store_that_went_away_is_a_503_that_names_only_the_error_type() -> None:
    errors = [kind("mongo.internal:27017: connection refused") for kind in INFRASTRUCTURE_ERRORS]
    client = _answers(*errors)
    for exc in errors:
        name = type(exc).__name__
        answer = client.get(f"/{name}")
        assert (answer.status_code, answer.headers["retry-after"]) == (503, "1"), name
        assert answer.json()["detail"] == (
            f"a service Parley depends on did not answer ({name}); try again"
        )
        assert "mongo.internal" not in answer.text


def test_a_problem_leaves_out_the_members_it_has_no_value_for() -> None:
    client = _answers(Problem(409, "not-open", "Not open"), NotFound("dead letter dl_1 not found"))
    assert client.get("/Problem").json() == {
        "type": "https://parley.dev/problems/not-open",
        "title": "Not open",
        "status": 409,
        "instance": "/Problem",
    }
    assert client.get("/NotFound").json()["detail"] == "dead letter dl_1 not found"
