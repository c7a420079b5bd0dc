"""Visitor uploads: a file the widget's limits allow is stored and served back only to the
visitor who uploaded it, with its type, its name and ``nosniff``; a type the widget does not
take is a 415 and a file over its size a 413, and neither stores anything."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.settings import Settings
from ingress.app import create_app
from tests.credentials import bearer, client_address, tenant_headers

ORIGIN = "https://shop.example"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    app = create_app(Settings(tenant_cache_seconds=0))
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as test_client:
        yield test_client


def _visitor(
    client: TestClient, settings: Settings, tenant: str, **fields: Any
) -> tuple[str, dict[str, str]]:
    created = client.post(
        "/v1/admin/widgets",
        headers=tenant_headers(settings, tenant),
        json={"name": "Shop", "allowed_origins": [ORIGIN], **fields},
    )
    assert created.status_code == 201, created.text
    widget_id: str = created.json()["id"]
    opened = client.post(f"/v1/widget/{widget_id}/sessions", headers={"Origin": ORIGIN}, json={})
    assert opened.status_code == 201, opened.text
    return widget_id, {**bearer(opened.json()["token"]), "Origin": ORIGIN}


def _upload(
    client: TestClient,
    headers: dict[str, str],
    data: bytes = PNG,
    content_type: str = "image/png",
    filename: str | None = "café.png",
) -> Any:
    params = {"filename": filename} if filename is not None else {}
    return client.post(
        "/v1/widget/uploads",
        headers={**headers, "Content-Type": content_type},
        params=params,
        content=data,
    )


def test_an_upload_is_served_back_to_its_visitor(
    client: TestClient, settings: Settings, tenant: str, db: Database[Any]
) -> None:
    widget_id, headers = _visitor(client, settings, tenant)
    stored = _upload(client, headers)
    assert stored.status_code == 201, stored.text
    assert stored.headers["access-control-allow-origin"] == ORIGIN
    body = stored.json()
    assert body["upload_id"].startswith("upl_")
    assert (body["content_type"], body["size"], body["filename"]) == (
        "image/png",
        len(PNG),
        "café.png",
    )
    assert body["url"].endswith(f"/v1/widget/uploads/{body['upload_id']}")
    doc = db["uploads"].find_one({"_id": body["upload_id"]})
    assert doc is not None and (doc["tenant_id"], doc["widget_id"]) == (tenant, widget_id)
    assert bytes(doc["data"]) == PNG

    fetched = client.get(f"/v1/widget/uploads/{body['upload_id']}", headers=headers)
    assert fetched.status_code == 200
    assert fetched.content == PNG
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert fetched.headers["content-disposition"] == (
        "inline; filename=\"caf_.png\"; filename*=UTF-8''caf%C3%A9.png"
    )
    assert fetched.headers["access-control-allow-origin"] == ORIGIN

    pdf = _upload(client, headers, b"%PDF-1.4", "application/pdf; charset=binary", None)
    assert pdf.status_code == 201 and pdf.json()["filename"] == "upload"
    got = client.get(f"/v1/widget/uploads/{pdf.json()['upload_id']}", headers=headers)
    assert got.headers["content-disposition"].startswith("attachment; ")


def test_another_visitor_widget_or_tenant_gets_a_404(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    widget_id, headers = _visitor(client, settings, tenant)
    upload_id = _upload(client, headers).json()["upload_id"]
    opened = client.post(f"/v1/widget/{widget_id}/sessions", headers={"Origin": ORIGIN}, json={})
    same_widget = {**bearer(opened.json()["token"]), "Origin": ORIGIN}
    _, other_widget = _visitor(client, settings, tenant)
    _, other_tenant = _visitor(client, settings, tenant + "-b")
    for stranger in (same_widget, other_widget, other_tenant):
        refused = client.get(f"/v1/widget/uploads/{upload_id}", headers=stranger)
        assert refused.status_code == 404, refused.text
        assert "PNG" not in refused.text
    missing = client.get("/v1/widget/uploads/upl_missing", headers=headers)
    assert missing.status_code == 404
    api = client.get(f"/v1/widget/uploads/{upload_id}", headers=tenant_headers(settings, tenant))
    assert api.status_code == 401


@pytest.mark.parametrize(
    ("content_type", "data", "filename", "status", "slug"),
    [
        ("text/html", b"<script>", "x.html", 415, "unsupported-media-type"),
        ("image/svg+xml", b"<svg/>", "x.svg", 415, "unsupported-media-type"),
        ("application/pdf", b"%PDF", "x.pdf", 415, "unsupported-media-type"),  # not this widget's
        ("image/png", PNG + b"\x00" * 1024, "big.png", 413, "payload-too-large"),
        ("image/png", b"", "empty.png", 400, "empty-upload"),
        ("image/png", PNG, "../etc/passwd", 400, "invalid-filename"),
        ("image/png", PNG, "a\nb.png", 400, "invalid-filename"),
        ("image/png", PNG, "x" * 256, 400, "invalid-filename"),
    ],
)
def test_an_upload_the_widget_does_not_take_stores_nothing(
    client: TestClient,
    settings: Settings,
    tenant: str,
    db: Database[Any],
    content_type: str,
    data: bytes,
    filename: str,
    status: int,
    slug: str,
) -> None:
    limits = {"max_bytes": 1024, "types": ["image/png", "image/jpeg"]}
    _, headers = _visitor(client, settings, tenant, upload=limits)
    refused = _upload(client, headers, data, content_type, filename)
    assert refused.status_code == status, refused.text
    assert refused.json()["type"].endswith(f"/{slug}")
    assert refused.headers["access-control-allow-origin"] == ORIGIN
    assert db["uploads"].count_documents({"tenant_id": tenant}) == 0
