"""bench.store_trips reads the round-trip counters the ingress and the workers export, as
prometheus-client writes them, from real HTTP endpoints, and divides what a load added."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from bench import store_trips


class _Exposition:
    def __init__(self, family: str, labels: list[str]) -> None:
        self.registry = CollectorRegistry()
        self.histogram = Histogram(family, "round trips", labels, registry=self.registry)


@pytest.fixture
def endpoints() -> Iterator[tuple[dict[str, _Exposition], dict[str, str]]]:
    ingress = _Exposition("parley_http_request_round_trips", ["route", "method", "store"])
    deliver = _Exposition("parley_stage_round_trips", ["stage", "store"])
    served = {"/ingress": ingress, "/deliver": deliver}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = generate_latest(served[self.path].registry)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield (
            {"ingress": ingress, "deliver": deliver},
            {"ingress": f"{base}/ingress", "deliver": f"{base}/deliver"},
        )
    finally:
        server.shutdown()
        server.server_close()


def test_what_a_load_added_is_divided_by_its_messages(
    endpoints: tuple[dict[str, _Exposition], dict[str, str]],
) -> None:
    expositions, urls = endpoints
    route = ("/webhooks/{channel}/{config_id}", "POST")
    expositions["ingress"].histogram.labels(*route, "mongo").observe(3)
    before = store_trips.snapshot(urls)
    for _ in range(4):  # four messages: 3 + 1 at the ingress, 8 + 5 in deliver each
        expositions["ingress"].histogram.labels(*route, "mongo").observe(3)
        expositions["ingress"].histogram.labels(*route, "redis").observe(1)
        expositions["deliver"].histogram.labels("deliver", "mongo").observe(8)
        expositions["deliver"].histogram.labels("deliver", "redis").observe(5)
    expositions["ingress"].histogram.labels("/metrics", "GET", "mongo").observe(0)
    figures = store_trips.per_message(before, store_trips.snapshot(urls), 4)
    assert figures == {
        "mongo": 11.0,
        "redis": 6.0,
        "by_part": {
            "deliver": {"mongo": 8.0, "redis": 5.0},
            "ingress": {"mongo": 3.0, "redis": 1.0},
        },
    }
