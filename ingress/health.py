"""Liveness and readiness: ready means the ingress can accept work (Redis, broker, MongoDB).

Kafka and the engine being down leaves the ingress ready, reported as ``degraded``; see
``ingress/readiness.py`` for how the probes are bounded and cached.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ingress.api_models import Live, NotReady, Ready, json_of
from ingress.operations import Answer, Operation, documented
from ingress.problems import PROBLEM_JSON, ProblemResponse
from ingress.state import IngressState


@documented(
    Operation(
        "healthLive",
        "Liveness",
        "health",
        (Answer(200, "The process serves requests.", Live),),
        authenticated=False,
    )
)
async def live(request: Request) -> JSONResponse:
    return JSONResponse(json_of(Live(status="live")))


@documented(
    Operation(
        "healthReady",
        "Readiness: Redis, broker and MongoDB answer, so work can be accepted",
        "health",
        (
            Answer(
                200,
                "Redis, the broker and MongoDB are up; Kafka or the engine being down makes it "
                "`degraded`, still 200 (the outbox keeps events, the fallback text answers). "
                "Reports are reused for `PARLEY_READINESS_CACHE_SECONDS` (1 s).",
                Ready,
            ),
            Answer(
                503,
                "Redis, the broker or MongoDB is down; `detail` names which.",
                NotReady,
                media_type=PROBLEM_JSON,
            ),
        ),
        authenticated=False,
    )
)
async def ready(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    report = await state.readiness.report()
    if not report.ready:
        not_ready = NotReady(
            type="https://parley.dev/problems/not-ready",
            title="Not ready",
            status=503,
            detail="unavailable: " + ", ".join(report.failed),
            checks=report.checks,
            degraded=report.degraded,
        )
        return ProblemResponse(json_of(not_ready), status_code=503)
    answer = Ready(
        status="degraded" if report.degraded else "ready",
        checks=report.checks,
        degraded=report.degraded,
    )
    return JSONResponse(json_of(answer))


routes = [
    Route("/health/live", live, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
]
