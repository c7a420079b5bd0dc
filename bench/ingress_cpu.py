"""CPU per accepted request inside one process: requests through the real ingress app (its
lifespan, authentication, rate limit, accept path, on the real Redis, MongoDB-wire server and
broker) and the same bodies through the bare ``LPUSH`` route, both over ASGI in this process,
so what Parley spends beyond the least an ingress that keeps a message must do is plain.

``python -m bench.ingress_cpu [--requests N] [--concurrency C] [--profile DIR]``. No workers
run: the chains wait in the broker and go with the run's database and queues afterwards. With
``--profile``, py-spy samples the probe (it runs itself again under ``py-spy record``, Parley's
routes only) and the summary of bench/profiling.py is printed. Set ``PARLEY_REDIS_URL`` and
``PARLEY_BROKER_URL`` to databases of your own first: the broker's queues are emptied.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROUTES = (("webhook", "whatsapp", "bare-whatsapp"), ("api", "api", "bare-api"))
JSON = {"content-type": "application/json"}


def _environment() -> None:
    """Settings for this process, before any Parley module reads them."""
    from core.crypto import new_master_key

    os.environ.setdefault("PARLEY_JWT_SECRET", secrets.token_urlsafe(32))
    os.environ.setdefault("PARLEY_MASTER_KEY", new_master_key())
    os.environ["PARLEY_MONGO_DB"] = f"parley_bench_cpu_{secrets.token_hex(4)}"


async def _measure(app: Any, traffic: Any, requests: int, concurrency: int) -> dict[str, float]:
    """Milliseconds of this process's CPU (every thread) and requests a second, over
    ``requests`` answered 2xx after a warm-up of a tenth as many."""
    async with app.router.lifespan_context(app) as lifespan_state:

        async def serve(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = dict(lifespan_state or {})  # what an ASGI server does with it
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=serve, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as client:
            numbers = iter(range(requests + requests // 10))

            async def send(count: int) -> None:
                for _ in range(count):
                    path, body, headers = traffic.message(next(numbers))
                    response = await client.post(path, content=body, headers={**JSON, **headers})
                    if response.status_code >= 300:
                        raise RuntimeError(f"{path}: {response.status_code} {response.text}")

            await asyncio.gather(*(send(requests // 10 // concurrency) for _ in range(concurrency)))
            each = requests // concurrency
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(send(each) for _ in range(concurrency)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = each * concurrency
    return {"cpu_ms": round(cpu * 1000 / done, 3), "rate": round(done / wall, 1)}


def run(requests: int, concurrency: int, bare: bool) -> dict[str, dict[str, float]]:
    from bench.bare_ingress import app as bare_app
    from bench.seeding import PHONE_NUMBER_ID, prepare
    from bench.traffic import Traffic
    from core.settings import get_settings
    from ingress.asgi import app
    from storage.mongo import connect
    from tasks.queues import QUEUES

    settings = get_settings()
    mongo = connect(settings)
    db = mongo[settings.mongo_db]
    tenancy = prepare(db, settings)
    results: dict[str, dict[str, float]] = {}
    try:
        for route, kind, bare_kind in ROUTES:
            pairs = [(route, app, kind)] + ([(f"bare-{route}", bare_app, bare_kind)] * bare)
            for name, target, each in pairs:
                traffic = Traffic(
                    kind=each,
                    run=f"{secrets.randbelow(10**8):08d}",
                    webhook_path=tenancy.webhook_path,
                    phone_number_id=PHONE_NUMBER_ID,
                    app_secret=tenancy.app_secret,
                    token=tenancy.token,
                )
                results[name] = asyncio.run(_measure(target, traffic, requests, concurrency))
                print(f"{name}: {results[name]}", flush=True)
    finally:
        mongo.drop_database(settings.mongo_db)
        import redis

        redis.Redis.from_url(settings.broker_url).delete(*QUEUES)
        mongo.close()
    return results


def _profiled(arguments: argparse.Namespace) -> None:
    from bench.profiling import RATE, _py_spy, summarize

    py_spy = _py_spy()
    if py_spy is None:
        sys.exit("py-spy not found (pip install -e '.[bench]')")
    folder = Path(arguments.profile)
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "ingress-cpu.txt"
    probe = [sys.executable, "-m", "bench.ingress_cpu", "--no-bare"]
    probe += ["--requests", str(arguments.requests), "--concurrency", str(arguments.concurrency)]
    # Only the thread holding the GIL is sampled: where the CPU goes, not where requests wait.
    argv = [py_spy, "record", "-r", str(RATE), "-f", "raw", "-o", str(raw), "--gil"]
    subprocess.run([*argv, "--", *probe], check=True)
    summary = summarize(raw)
    (folder / "ingress-cpu.summary.txt").write_text(summary)
    print(summary)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingress_cpu")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-bare", action="store_true", help="Parley's routes only")
    parser.add_argument("--profile", metavar="DIR", help="py-spy profile into DIR")
    arguments = parser.parse_args()
    if arguments.profile:
        _profiled(arguments)
        return
    _environment()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is not the ingress's
    results = run(arguments.requests, arguments.concurrency, not arguments.no_bare)
    for route, _, _ in ROUTES:
        if f"bare-{route}" in results:
            own, least = results[route], results[f"bare-{route}"]
            print(
                f"{route}: {own['cpu_ms']} ms of CPU a request, bare {least['cpu_ms']} ms, "
                f"beyond the bare route {own['cpu_ms'] - least['cpu_ms']:.3f} ms; "
                f"in-process rate ratio {own['rate'] / least['rate']:.3f}"
            )


if __name__ == "__main__":
    main()
