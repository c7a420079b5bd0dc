"""Liveness and readiness: ready means the ingress can accept work (Redis, broker, MongoDB).

Kafka and the engine being down leaves the ingress ready, reported as ``degraded``; see
``ingress/readiness.py`` for how the probes are bounded and cached.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ingress.problems import ProblemResponse
from ingress.state import IngressState


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"status": "live"})


async def ready(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    report = await state.readiness.report()
    if not report.ready:
        return ProblemResponse(
            {
                "type": "https://parley.dev/problems/not-ready",
                "title": "Not ready",
                "status": 503,
                "detail": "unavailable: " + ", ".join(report.failed),
                "checks": report.checks,
                "degraded": report.degraded,
            },
            status_code=503,
        )
    return JSONResponse(
        {
            "status": "degraded" if report.degraded else "ready",
            "checks": report.checks,
            "degraded": report.degraded,
        }
    )


routes = [
    Route("/health/live", live, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
]
