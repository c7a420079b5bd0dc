"""Issue 15's traces on real processes: with ``PARLEY_OTLP_ENDPOINT`` set, a message's turn is one
trace from the API request through each chain task to the engine's gRPC call, exported over
OTLP/HTTP to a local collector."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import CHAIN_QUEUES, running_platform
from testenv import ENGINE_PORT, free_port

from core.settings import Settings
from tests.credentials import tenant_headers
from tests.fakes.otlp_collector import OtlpCollector, Span

pytestmark = pytest.mark.e2e


def _trace_of(spans: list[Span], trace_id: str) -> list[Span]:
    return [span for span in spans if span.trace_id == trace_id]


def test_a_turn_is_one_trace_across_the_ingress_the_workers_and_the_engine(
    tmp_path: Path, settings: Settings, tenant: str, db: Any, broker: Any
) -> None:
    headers = tenant_headers(settings, tenant)
    with OtlpCollector() as collector:
        env = {"PARLEY_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
        with running_platform(tmp_path, ENGINE_PORT, free_port(), env) as (base, group):
            posted = httpx.post(
                f"{base}/v1/messages", headers=headers, json={"user_id": "tia", "text": "hello"}
            )
            assert posted.status_code == 202, posted.text
            wanted = {f"run/parley.{queue}" for queue in CHAIN_QUEUES}
            deadline = time.monotonic() + 90
            trace: list[Span] = []
            while time.monotonic() < deadline:
                spans = collector.received()
                roots = [
                    s for s in spans if s.service == "parley-ingress" and "/v1/messages" in s.name
                    and not s.parent_id
                ]  # fmt: skip
                trace = _trace_of(spans, roots[-1].trace_id) if roots else []
                names = {s.name for s in trace}
                if wanted <= names and any(s.service == "parley-engine" for s in trace):
                    break
                time.sleep(0.3)
            logs = group.all_logs()
    names = {(s.service, s.name) for s in trace}
    assert {("parley-worker", name) for name in wanted} <= names, (sorted(names), logs[-3000:])
    assert any(s.service == "parley-engine" and "Generate" in s.name for s in trace), names
    assert any(s.service == "parley-worker" and "Generate" in s.name for s in trace), names
