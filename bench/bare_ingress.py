"""The R1 baseline: a bare Starlette route that stores the body with one Redis ``LPUSH``.

``python -m bench.bare_ingress --port N`` serves it with the same uvicorn settings as
``parley ingress`` (one worker, asyncio loop, no access log, no proxy headers), so the ratio
is Parley's acceptance work against the least an ingress that keeps the message must do.
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


app = Starlette(routes=[Route("/bare", accept, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_ingress")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        "bench.bare_ingress:app",
        host="127.0.0.1",
        port=args.port,
        workers=1,
        log_level="info",
        access_log=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
