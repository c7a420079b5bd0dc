"""``parley ingress`` with two processes, as a real process tree: both start on a fresh database
at once (index creation twice concurrently), requests spread over both, GET /metrics counts
every request whichever process answered it, and bad input is still problem+json."""

from __future__ import annotations

import json
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from testenv import free_port

from core.settings import Settings
from tests.credentials import tenant_headers
from tests.processes import ProcessGroup, process_group, wait_http_ok

BURST = 16  # requests sent at once, each on a connection of its own
MAX_BURSTS = 40  # enough for both processes to accept some; the test fails if one took all


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        found = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if found and all(f'{k}="{v}"' in found.group(1) for k, v in labels.items()):
            return float(found.group(2))
    return 0.0


def _records(group: ProcessGroup) -> list[dict[str, Any]]:
    lines = group.log("ingress", tail=None).splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _answering_pids(group: ProcessGroup, paths: set[str]) -> dict[str, int]:
    """The process that logged each of ``paths``' access lines (read once stopped: all flushed)."""
    pids = {}
    for record in _records(group):
        found = re.search(r'"GET (\S+) HTTP', record["message"])
        if record["name"] == "uvicorn.access" and found and found.group(1) in paths:
            pids[found.group(1)] = record["process"]
    return pids


def _missing(base: str, path: str) -> httpx.Response:
    with httpx.Client(base_url=base, timeout=10) as client:  # a connection of its own
        return client.get(path)


@pytest.mark.parametrize(
    ("option", "env"),
    [
        (["--workers", "2"], {"PARLEY_INGRESS_WORKERS": "1"}),
        ([], {"PARLEY_INGRESS_WORKERS": "2"}),
    ],
    ids=["option-over-setting", "setting"],
)
def test_two_ingress_processes_share_the_requests_and_sum_their_metrics(
    option: list[str],
    env: dict[str, str],
    tmp_path: Path,
    settings: Settings,
    mongo_client: MongoClient[Any],
    broker: Any,
) -> None:
    port, fresh = free_port(), f"{settings.mongo_db}_procs_{secrets.token_hex(3)}"
    base = f"http://127.0.0.1:{port}"
    env = {**env, "PARLEY_MONGO_DB": fresh, "PARLEY_HOME": str(tmp_path / "home")}
    sent: list[str] = []
    try:
        with process_group(tmp_path / "logs") as group:
            group.start("ingress", "ingress", "--port", str(port), *option, env=env)
            wait_http_ok(f"{base}/health/live", group)
            with ThreadPoolExecutor(BURST) as pool:
                for _ in range(MAX_BURSTS):
                    paths = [f"/no/such/{secrets.token_hex(6)}" for _ in range(BURST)]
                    answers = list(pool.map(lambda p: _missing(base, p), paths))
                    assert [a.status_code for a in answers] == [404] * BURST
                    assert {a.headers["content-type"] for a in answers} == {
                        "application/problem+json"
                    }
                    sent += paths
                    group.assert_running()
                    if len(set(_live_pids(group))) >= 2:
                        break
            anonymous = httpx.post(f"{base}/v1/messages", content=b"{not json")
            malformed = httpx.post(
                f"{base}/v1/messages",
                content=b"{not json",
                headers={**tenant_headers(settings, "t_procs"), "Content-Type": "application/json"},
            )
            scraped = httpx.get(f"{base}/metrics", timeout=10).text
            group.stop("ingress")

            ready = {r["process"] for r in _records(group) if r["message"] == "ingress ready"}
            pids = _answering_pids(group, set(sent))
    finally:
        mongo_client.drop_database(fresh)

    assert len(ready) == 2  # both lifespans made the fresh database's indexes and started
    assert len(pids) == len(sent)
    assert set(pids.values()) == ready  # each process answered some of the requests
    labels = {"route": "unmatched", "method": "GET", "status": "404"}
    assert _sample(scraped, "parley_http_requests_total", **labels) == len(sent)
    count = _sample(scraped, "parley_http_request_duration_seconds_count", route="unmatched")
    assert count == len(sent)
    assert _sample(scraped, "parley_http_requests_total", route="/v1/messages", status="401") == 1
    for answer, status in ((anonymous, 401), (malformed, 400)):
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["status"] == status
    assert re.search(r"^parley_http_requests_in_flight 1\.0$", scraped, re.M)  # the scrape
    assert not (tmp_path / "home" / "metrics").exists() or not any(
        (tmp_path / "home" / "metrics").iterdir()
    )  # the start's folder went with it


def _live_pids(group: ProcessGroup) -> list[int]:
    """Processes that have logged an access line so far (a lower bound: lines may lag)."""
    return [
        r["process"]
        for r in _records(group)
        if r["name"] == "uvicorn.access" and "/no/such/" in r["message"]
    ]
