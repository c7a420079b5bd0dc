"""Flood benchmark: one tenant at 20x its rate limit while another keeps sending.

    PYTHONPATH=tests python -m tests.flood_bench [--seconds 10] [--limit 10] [--factor 20]

Starts a real ingress (``parley ingress``, a separate process) on the local services, creates
tenant A with ``--limit`` requests per second (burst the same) and tenant B with the defaults,
then measures B's ``POST /v1/messages`` latency alone and while A sends ``factor x limit``
requests per second. Prints B's p50/p99 in both phases and A's answers by status. Numbers, not
assertions: the tests check behaviour, this shows the cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx
import testenv  # noqa: F401  (the test environment: its own database, secrets)
from testenv import free_port

from core.settings import get_settings
from storage.mongo import connect
from tests.credentials import admin_headers, new_tenant_id, tenant_headers

MESSAGE = {"user_id": "bench", "text": "hello"}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def steady(
    client: httpx.AsyncClient, headers: dict[str, str], rate: float, seconds: float
) -> tuple[list[float], Counter[int]]:
    """Sends at ``rate`` per second for ``seconds``; the latency of each request, in ms."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    start = time.perf_counter()
    sent = 0
    while time.perf_counter() - start < seconds:
        due = start + sent / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        began = time.perf_counter()
        response = await client.post("/v1/messages", headers=headers, json=MESSAGE)
        latencies.append((time.perf_counter() - began) * 1000)
        statuses[response.status_code] += 1
        sent += 1
    return latencies, statuses


async def flood(
    client: httpx.AsyncClient, headers: dict[str, str], rate: float, seconds: float
) -> Counter[int]:
    """Fires ``rate`` requests per second for ``seconds`` without waiting for answers."""
    statuses: Counter[int] = Counter()

    async def one() -> None:
        try:
            response = await client.post("/v1/messages", headers=headers, json=MESSAGE)
            statuses[response.status_code] += 1
        except httpx.HTTPError as exc:
            statuses[-1] += 1
            print(f"flood request failed: {type(exc).__name__}", file=sys.stderr)

    tasks = []
    start = time.perf_counter()
    for sent in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return statuses


async def run(args: argparse.Namespace, base: str) -> dict[str, Any]:
    settings = get_settings()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        a, b = new_tenant_id(), new_tenant_id()
        for tenant, extra in (
            (a, {"rate_limits": {"per_second": args.limit, "burst": int(args.limit)}}),
            (b, {}),
        ):
            created = await client.post(
                "/v1/admin/tenants",
                headers=admin_headers(settings),
                json={"id": tenant, "name": tenant, **extra},
            )
            created.raise_for_status()
        a_headers, b_headers = tenant_headers(settings, a), tenant_headers(settings, b)
        await steady(client, b_headers, args.rate, 1.0)  # warm-up: connections, caches
        alone, alone_statuses = await steady(client, b_headers, args.rate, args.seconds)
        (during, during_statuses), flooded = await asyncio.gather(
            steady(client, b_headers, args.rate, args.seconds),
            flood(client, a_headers, args.limit * args.factor, args.seconds),
        )
    return {
        "alone": alone,
        "alone_statuses": alone_statuses,
        "during": during,
        "during_statuses": during_statuses,
        "flood": flooded,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--limit", type=float, default=10.0, help="tenant A's requests/s")
    parser.add_argument("--factor", type=float, default=20.0, help="A sends factor x limit")
    parser.add_argument("--rate", type=float, default=5.0, help="tenant B's requests/s")
    parser.add_argument("--workers", type=int, default=1, help="ingress processes")
    args = parser.parse_args()

    port = free_port()
    ingress = subprocess.Popen(
        [
            sys.executable,
            *("-m", "cli", "ingress", "--port", str(port), "--workers", str(args.workers)),
        ],
        env={**os.environ},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the ingress did not start")
            time.sleep(0.2)
        result = asyncio.run(run(args, base))
    finally:
        ingress.terminate()
        ingress.wait(timeout=10)
        settings = get_settings()
        client = connect(settings)
        client.drop_database(settings.mongo_db)
        client.close()

    flooded: Counter[int] = result["flood"]
    print(
        f"tenant A: limit {args.limit:g}/s, sent {sum(flooded.values())} requests at "
        f"{args.limit * args.factor:g}/s for {args.seconds:g} s: "
        + ", ".join(f"{status}: {count}" for status, count in sorted(flooded.items()))
    )
    for phase in ("alone", "during"):
        latencies = result[phase]
        statuses = result[f"{phase}_statuses"]
        print(
            f"tenant B, {'without' if phase == 'alone' else 'during'} the flood: "
            f"{len(latencies)} requests, "
            f"p50 {statistics.median(latencies):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms, "
            + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        )


if __name__ == "__main__":
    main()
