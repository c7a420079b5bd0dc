"""Schemathesis against ``/openapi.json``: a real ingress (uvicorn on a free port, real MongoDB
and Redis) fuzzed through every operation with valid credentials. Every answer must be a
non-5xx, with a documented status, content type, headers and a body matching its schema.

The number of examples per operation is bounded (``PARLEY_FUZZ_EXAMPLES``, 25 by default), so
the run stays within a few minutes on a small CI machine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from pymongo.database import Database
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from testenv import free_port

from core.settings import Settings
from ingress import openapi
from ingress.app import create_app
from services.mcp_engine import serve as serve_engine
from services.mcp_engine.rules import RulesBackend
from tests.credentials import admin_headers, tenant_headers
from tests.fakes.accounts import ProviderAccounts

EXAMPLES = int(os.environ.get("PARLEY_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def base_url(db: Database[Any], broker: redis.Redis, providers: ProviderAccounts) -> Iterator[str]:
    # The reference engine runs, so readiness is a 200 like every other dependency's.
    engine_port = free_port()
    backend = RulesBackend.from_file()
    engine = serve_engine(engine_port, backend)
    # Limits far above what the fuzzer sends: it checks the API's shape, not its limits. The
    # provider fakes answer the account checks of the channel configs it creates.
    app = create_app(
        providers.settings(
            Settings(
                engine_addr=f"127.0.0.1:{engine_port}",
                rate_limit_tenant_per_second=10_000,
                rate_limit_tenant_burst=100_000,
                rate_limit_credential_per_second=10_000,
                rate_limit_credential_burst=100_000,
                auth_failure_burst=100_000,
                rate_limit_widget_burst=100_000,
                rate_limit_visitor_burst=100_000,
            )
        )
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the ingress did not start"
        time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=10)
    engine.stop(grace=1).wait()
    backend.close()


@pytest.fixture(scope="module")
def api_schema(base_url: str) -> Any:
    document = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    return schemathesis.openapi.from_dict(document)


@pytest.fixture(scope="module")
def credentials(settings: Settings, base_url: str) -> dict[str, dict[str, str]]:
    tenant = tenant_headers(settings, "fuzz-tenant")
    origin = "https://fuzz.example"
    widget = httpx.post(
        f"{base_url}/v1/admin/widgets",
        headers=tenant,
        json={"name": "fuzz", "allowed_origins": [origin]},
        timeout=10,
    )
    assert widget.status_code == 201, widget.text
    session = httpx.post(
        f"{base_url}/v1/widget/{widget.json()['id']}/sessions",
        headers={"Origin": origin},
        json={},
        timeout=10,
    )
    assert session.status_code == 201, session.text
    return {
        "admin": admin_headers(settings),
        "tenant": tenant,
        "visitor": {"Authorization": f"Bearer {session.json()['token']}"},
    }


def _operations() -> list[tuple[str, str, GenerationMode]]:
    """(method, path, mode) for every documented operation, read from the route table at
    collection time (schemathesis's own pytest plugin does not run under this pytest).
    Negative cases (invalid input, to be refused with a documented 4xx) only exist for an
    operation that takes input."""
    document = openapi.build_document(create_app().routes, "http://127.0.0.1")
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            found.append((method.upper(), path, GenerationMode.POSITIVE))
            if operation.get("parameters") or operation.get("requestBody"):
                found.append((method.upper(), path, GenerationMode.NEGATIVE))
    return sorted(found)


@pytest.mark.parametrize(("method", "path", "mode"), _operations(), ids=str)
def test_every_operation_answers_as_documented(
    method: str,
    path: str,
    mode: GenerationMode,
    api_schema: Any,
    base_url: str,
    credentials: dict[str, dict[str, str]],
) -> None:
    operation = api_schema[path][method]
    raw = operation.definition.raw
    headers: dict[str, str] = {}
    if raw.get("x-visitor"):
        headers = credentials["visitor"]
    elif raw.get("security"):
        headers = credentials["admin" if raw["x-required-scope"] == "admin" else "tenant"]

    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)

    fuzz()
