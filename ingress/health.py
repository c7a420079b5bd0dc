"""Liveness and readiness: ready means Redis, broker, MongoDB, Kafka and engine all answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ingress.problems import ProblemResponse
from ingress.state import IngressState

CHECK_TIMEOUT = 2.0


def _checks(state: IngressState) -> dict[str, Callable[[], object]]:
    return {
        "redis": state.redis.ping,
        "broker": state.broker.ping,
        "mongodb": lambda: state.db.command("ping"),
        "kafka": lambda: state.kafka.list_topics(timeout=CHECK_TIMEOUT),
        "engine": lambda: _require(state.engine.is_serving(timeout=CHECK_TIMEOUT), "not serving"),
    }


def _require(ok: bool, reason: str) -> None:
    if not ok:
        raise RuntimeError(reason)


async def _run(check: Callable[[], object]) -> str:
    try:
        await asyncio.wait_for(run_in_threadpool(check), timeout=CHECK_TIMEOUT + 1)
    except Exception as exc:
        return f"down: {type(exc).__name__}"
    return "up"


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"status": "live"})


async def ready(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    checks = _checks(state)
    results = await asyncio.gather(*(_run(check) for check in checks.values()))
    report = dict(zip(checks, results, strict=True))
    failed = sorted(name for name, result in report.items() if result != "up")
    if failed:
        return ProblemResponse(
            {
                "type": "https://parley.dev/problems/not-ready",
                "title": "Not ready",
                "status": 503,
                "detail": "unavailable: " + ", ".join(failed),
                "checks": report,
            },
            status_code=503,
        )
    return JSONResponse({"status": "ready", "checks": report})


routes = [
    Route("/health/live", live, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
]
