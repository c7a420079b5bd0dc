"""Prometheus metrics of the ingress: ``GET /metrics`` and the middleware that counts requests.

Labels are low-cardinality by construction: a request is counted under its route template
(``/v1/conversations/{conversation_id}``), never its raw path, and no label carries a tenant.
Queue depths are read from the broker on each scrape (see ``QueueDepthCollector``).

``parley ingress`` runs in prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``,
a folder per start, emptied: cli/main.py), so with several uvicorn workers each writes its values
to files there and whichever process answers a scrape reports the sum over all of them: counters
and histograms summed, ``parley_http_requests_in_flight`` summed over the live processes (a
process that stops is forgotten by its lifespan). An app made in-process (the tests) keeps the
default registry.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis import Redis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.registry import SPECS
from ingress.operations import Answer, Operation, documented
from ingress.problems import Problem
from ingress.state import IngressState
from storage.round_trips import Tally, counting
from tasks.backlog import queue_length
from tasks.queues import QUEUES

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"  # a path no route serves: one label, whatever was asked

REQUESTS = Counter(
    "parley_http_requests_total",
    "Requests the ingress answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "parley_http_request_duration_seconds",
    "Time from a request's arrival to its response's first byte, by route template.",
    ["route", "method"],
)
IN_FLIGHT = Gauge(
    "parley_http_requests_in_flight",
    "Requests the ingress is answering now (all its processes).",
    multiprocess_mode="livesum",  # what is in flight now: the live processes' sum
)
WEBHOOKS = Counter(
    "parley_webhooks_total",
    "Provider webhooks received, by channel and outcome (accepted or refused).",
    ["channel", "outcome"],
)
ROUND_TRIPS = Histogram(
    "parley_http_request_round_trips",
    "Round trips to each store (mongo, redis) one request made, by route template and method"
    " (storage/round_trips.py).",
    ["route", "method", "store"],
    buckets=(0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32),
)
RATE_LIMITED = Counter(
    "parley_rate_limited_total",
    "Requests refused with 429 Too Many Requests, by route template.",
    ["route"],
)


def route_template(routes: Iterable[BaseRoute], scope: Scope) -> tuple[str, dict[str, str]]:
    """The template of the route that serves ``scope`` and its path parameters."""
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL and isinstance(route, Route):
            return route.path, dict(child.get("path_params", {}))
    return UNMATCHED, {}


class MetricsMiddleware:
    """Counts every HTTP request by route template, method and status, and times it.

    A request is counted as its answer starts, before the client can read it, so a scrape
    sent after an answer arrived counts that answer, whichever process serves the scrape.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = False

        async def observed(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                self._observe(scope, int(message["status"]), started)
            await send(message)

        IN_FLIGHT.inc()
        with counting() as round_trips:  # the handler's thread-pool work runs in this context
            try:
                await self.app(scope, receive, observed)
            finally:
                IN_FLIGHT.dec()
                if not answered:
                    # An exception that escapes every handler is answered 500 by Starlette.
                    self._observe(scope, 500, started)
                self._observe_round_trips(scope, round_trips)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        self._observe_latency(scope, time.perf_counter() - started)
        self._count(scope, status)

    def _observe_latency(self, scope: Scope, seconds: float) -> None:
        template, _ = route_template(scope["app"].routes, scope)
        LATENCY.labels(template, scope["method"]).observe(seconds)

    def _observe_round_trips(self, scope: Scope, tally: Tally) -> None:
        template, _ = route_template(scope["app"].routes, scope)
        ROUND_TRIPS.labels(template, scope["method"], "mongo").observe(tally.mongo)
        ROUND_TRIPS.labels(template, scope["method"], "redis").observe(tally.redis)

    def _count(self, scope: Scope, status: int) -> None:
        template, params = route_template(scope["app"].routes, scope)
        method = scope["method"]
        REQUESTS.labels(template, method, str(status)).inc()
        if status == 429:
            RATE_LIMITED.labels(template).inc()
        if template == "/webhooks/{channel}/{config_id}" and method == "POST":
            channel = params.get("channel", "")
            if channel in _known_channels():
                WEBHOOKS.labels(channel, "accepted" if status < 400 else "refused").inc()


def _known_channels() -> frozenset[str]:
    """Channel names a webhook label may take: any other path segment is not a label."""
    return frozenset(SPECS)


class QueueDepthCollector(Collector):
    """``parley_queue_depth{queue=…}``: messages waiting in each stage's broker queue, every
    priority's list included, read from the broker when Prometheus scrapes."""

    def __init__(self, broker: Redis) -> None:
        self.broker = broker

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "parley_queue_depth",
            "Messages waiting in a queue's broker lists, all priorities (what KEDA scales on).",
            labels=["queue"],
        )
        for queue in sorted(QUEUES):
            depth.add_metric([queue], queue_length(self.broker, queue))
        yield depth


def _multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition(broker: Redis) -> bytes:
    """The ingress's metrics (every process's, in multiprocess mode) and the queue depths, in
    the Prometheus text format."""
    own: CollectorRegistry = REGISTRY
    if _multiprocess():
        own = CollectorRegistry()
        multiprocess.MultiProcessCollector(own)  # type: ignore[no-untyped-call]
    depths = CollectorRegistry(auto_describe=False)
    depths.register(QueueDepthCollector(broker))
    return generate_latest(own) + generate_latest(depths)


def forget_process() -> None:
    """At this process's shutdown: its live gauges leave the sum (its counters stay)."""
    if _multiprocess():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def _authorised(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@documented(
    Operation(
        "getMetrics",
        "Prometheus metrics of the ingress and the queues' depths",
        "health",
        (
            Answer(
                200,
                "The Prometheus text exposition format (docs/metrics.md lists every metric).",
                schema={"type": "string"},
                media_type="text/plain",
            ),
        ),
        errors={401: "`unauthorized`: `PARLEY_METRICS_TOKEN` is set and not presented."},
        authenticated=False,
        description="Takes no tenant credential. When `PARLEY_METRICS_TOKEN` is set it requires "
        "`Authorization: Bearer <token>`; otherwise serve it only on a private network.",
    )
)
async def metrics(request: Request) -> Response:
    state: IngressState = request.state.parley
    token = state.settings.metrics_token
    if token is not None and not _authorised(request, token.get_secret_value()):
        raise Problem(401, "unauthorized", "Unauthorized", "a metrics token is required")
    body = await run_in_threadpool(exposition, state.broker)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics, methods=["GET"])]
