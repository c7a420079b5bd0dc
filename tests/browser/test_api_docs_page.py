"""``GET /docs`` in Chromium against a real ingress: Swagger UI renders the operation list of
``/openapi.json`` under the page's strict Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from processes import process_group, wait_http_ok
from testenv import free_port

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory, db: Any, broker: Any) -> Iterator[str]:
    port = free_port()
    with process_group(tmp_path_factory.mktemp("api-docs-logs")) as group:
        group.start("ingress", "ingress", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{base}/health/live", group)
        yield base


def test_the_docs_page_renders_the_operation_list(ingress: str, page: Page) -> None:
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(ingress) else outside.append(r.url))
    page.goto(f"{ingress}/docs")
    # One block per operation, by its operationId: the document was fetched and rendered.
    operation = page.locator("#operations-messages-postMessage")
    expect(operation).to_be_visible()
    expect(operation).to_contain_text("/v1/messages")
    assert page.locator(".opblock").count() > 20
    assert not outside, outside
    assert not blocked, blocked
