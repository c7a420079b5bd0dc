"""The R1 baseline: a bare Starlette route that stores the body with one Redis ``LPUSH``.

``python -m bench.bare_ingress --port N [--workers W]`` serves it with the same uvicorn settings
as ``parley ingress`` (asyncio loop; one worker unless told, as many as Parley's ingress has when
R1 measures scaling), without the access log or proxy headers, so the ratio is Parley's
acceptance work against the least an ingress that keeps the message must do. ``GET
/health/live`` tells the bench it is up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

KEY = "parley-bench:bare-ingress"


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    redis = Redis.from_url(os.environ.get("PARLEY_REDIS_URL", "redis://127.0.0.1:6379/3"))
    try:
        yield {"redis": redis}
    finally:
        await redis.delete(KEY)
        await redis.aclose()


async def accept(request: Request) -> JSONResponse:
    body = await request.body()
    await request.state.redis.lpush(KEY, body)
    return JSONResponse({"status": "ok"})


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"status": "live"})


app = Starlette(
    routes=[Route("/bare", accept, methods=["POST"]), Route("/health/live", live)],
    lifespan=lifespan,
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_ingress")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bench.bare_ingress:app",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="info",
        access_log=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
