"""``GET /docs``: an API reference page that loads only this ingress's own files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient
from swagger_ui_bundle import swagger_ui_path

from core.settings import Settings
from ingress.app import create_app


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_the_docs_page_references_only_local_assets_and_they_are_served(
    client: TestClient,
) -> None:
    page = client.get("/docs")  # no credential
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    assert "unsafe" not in policy
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(references) >= 3
    for reference in references:
        assert reference.startswith("/") and not reference.startswith("//"), reference
        asset = client.get(reference)
        assert asset.status_code == 200, reference
        assert asset.headers["x-content-type-options"] == "nosniff"
    # Swagger UI as the installed package ships it, and a start-up script that reads our document.
    bundle = client.get("/docs/swagger-ui-bundle.js")
    assert bundle.content == (swagger_ui_path / "swagger-ui-bundle.js").read_bytes()
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert client.get("/docs/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert '"/openapi.json"' in client.get("/docs/api-docs.js").text


def test_the_docs_routes_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/docs"]["get"]["security"] == []
    assert "/docs/swagger-ui-bundle.js" in paths
