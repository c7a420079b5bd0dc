"""Widget configs over the admin API: created with defaults, listed in pages, shown and
patched for their own tenant only; the identity secret is sealed and never answered; every bad
field is a 422 that stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.settings import Settings
from ingress.app import create_app
from tests.credentials import tenant_headers

SECRET = "identity-secret-" + "x" * 16


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def _create(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "Shop", "allowed_origins": ["https://shop.example"], **fields}
    response = client.post("/v1/admin/widgets", headers=headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_a_widget_is_created_with_the_defaults_and_its_secret_sealed(
    client: TestClient, settings: Settings, tenant: str, db: Database[Any]
) -> None:
    headers = tenant_headers(settings, tenant)
    widget = _create(
        client,
        headers,
        allowed_origins=["https://Shop.Example:443", "http://localhost:3000"],
        identity_secret=SECRET,
    )
    assert widget["id"].startswith("wgt_")
    assert widget["allowed_origins"] == ["https://shop.example", "http://localhost:3000"]
    assert widget["theme"] == {"title": "Chat", "primary_color": "#2563eb", "locale": "en"}
    assert widget["upload"] == {
        "max_bytes": 5 * 1024 * 1024,
        "types": ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"],
    }
    assert widget["greeting"] == "" and widget["enabled"] is True
    assert widget["identity_verification"] is True
    assert SECRET not in str(widget)
    stored = db["widgets"].find_one({"_id": widget["id"]})
    assert stored is not None and stored["tenant_id"] == tenant
    assert SECRET not in str(stored) and stored["sealed_identity_secret"]
    shown = client.get(f"/v1/admin/widgets/{widget['id']}", headers=headers)
    assert shown.status_code == 200 and shown.json() == widget


def test_widgets_are_listed_in_pages_and_only_the_tenants_own(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    headers = tenant_headers(settings, tenant)
    ids = [_create(client, headers, name=f"w{n}")["id"] for n in range(3)]
    other = _create(client, tenant_headers(settings, tenant + "-other"))["id"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/admin/widgets", headers=headers, params=params)
        assert page.status_code == 200, page.text
        seen += [each["id"] for each in page.json()["data"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert client.get(f"/v1/admin/widgets/{other}", headers=headers).status_code == 404
    patched = client.patch(f"/v1/admin/widgets/{other}", headers=headers, json={"name": "mine"})
    assert patched.status_code == 404
    bad = client.get("/v1/admin/widgets", headers=headers, params={"cursor": "nope"})
    assert bad.status_code == 400 and bad.json()["type"].endswith("/invalid-cursor")


def test_a_patch_changes_only_what_it_names(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    headers = tenant_headers(settings, tenant)
    widget = _create(
        client,
        headers,
        theme={"title": "Help", "avatar_url": "https://cdn.example/a.png"},
        identity_secret=SECRET,
    )
    path = f"/v1/admin/widgets/{widget['id']}"
    patched = client.patch(
        path,
        headers=headers,
        json={
            "theme": {"primary_color": "#ff0000", "avatar_url": None},
            "upload": {"max_bytes": 1024},
            "greeting": "Hello!",
            "enabled": False,
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["theme"] == {"title": "Help", "primary_color": "#ff0000", "locale": "en"}
    assert body["upload"]["max_bytes"] == 1024 and len(body["upload"]["types"]) == 5
    assert (body["greeting"], body["enabled"], body["name"]) == ("Hello!", False, "Shop")
    assert body["identity_verification"] is True
    off = client.patch(path, headers=headers, json={"identity_secret": None})
    assert off.status_code == 200 and off.json()["identity_verification"] is False
    on = client.patch(path, headers=headers, json={"identity_secret": SECRET})
    assert on.status_code == 200 and on.json()["identity_verification"] is True


BAD_FIELDS: list[dict[str, Any]] = [
    {"allowed_origins": []},
    {"allowed_origins": ["https://shop.example/"]},
    {"allowed_origins": ["https://shop.example/path"]},
    {"allowed_origins": ["https://shop.example?x=1"]},
    {"allowed_origins": ["shop.example"]},
    {"allowed_origins": ["ftp://shop.example"]},
    {"allowed_origins": ["http://shop.example"]},
    {"allowed_origins": ["https://user@shop.example"]},
    {"allowed_origins": ["https://shop.example:99999"]},
    {"theme": {"primary_color": "red"}},
    {"theme": {"primary_color": "#12345"}},
    {"theme": {"locale": "fr"}},
    {"theme": {"avatar_url": "http://cdn.example/a.png"}},
    {"theme": {"avatar_url": "javascript:alert(1)"}},
    {"upload": {"max_bytes": 10 * 1024 * 1024 + 1}},
    {"upload": {"max_bytes": 0}},
    {"upload": {"types": ["text/html"]}},
    {"upload": {"types": []}},
    {"identity_secret": "short"},
    {"enabled": "yes"},
    {"colour": "#000000"},
]


@pytest.mark.parametrize("fields", BAD_FIELDS, ids=str)
def test_a_bad_field_is_refused_and_nothing_is_stored(
    client: TestClient, settings: Settings, tenant: str, db: Database[Any], fields: dict[str, Any]
) -> None:
    headers = tenant_headers(settings, tenant)
    body = {"name": "Shop", "allowed_origins": ["https://shop.example"], **fields}
    created = client.post("/v1/admin/widgets", headers=headers, json=body)
    assert created.status_code == 422, created.text
    assert created.headers["content-type"] == "application/problem+json"
    assert db["widgets"].count_documents({"tenant_id": tenant}) == 0
    widget = _create(client, headers)
    patched = client.patch(f"/v1/admin/widgets/{widget['id']}", headers=headers, json=fields)
    assert patched.status_code == 422, patched.text
    shown = client.get(f"/v1/admin/widgets/{widget['id']}", headers=headers).json()
    assert shown == widget


@pytest.mark.parametrize("field", ["name", "enabled", "allowed_origins", "theme", "upload"])
def test_a_patch_cannot_null_a_field(
    client: TestClient, settings: Settings, tenant: str, field: str
) -> None:
    headers = tenant_headers(settings, tenant)
    widget = _create(client, headers)
    patched = client.patch(f"/v1/admin/widgets/{widget['id']}", headers=headers, json={field: None})
    assert patched.status_code == 422, patched.text


def test_malformed_and_unscoped_requests_are_refused(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    headers = tenant_headers(settings, tenant)
    malformed = client.post(
        "/v1/admin/widgets",
        headers={**headers, "Content-Type": "application/json"},
        content=b"{",
    )
    assert malformed.status_code == 400
    reader = tenant_headers(settings, tenant, scopes=["messages:read"])
    assert client.get("/v1/admin/widgets", headers=reader).status_code == 403


def test_plain_http_origins_need_the_development_setting(
    db: Database[Any], broker: redis.Redis, settings: Settings, tenant: str
) -> None:
    body = {
        "name": "Dev",
        "allowed_origins": ["http://shop.test:8080"],
        "theme": {"avatar_url": "http://shop.test/a.png"},
    }
    with TestClient(create_app(Settings(widget_allow_http=True))) as dev:
        created = dev.post("/v1/admin/widgets", headers=tenant_headers(settings, tenant), json=body)
    assert created.status_code == 201, created.text
    assert created.json()["allowed_origins"] == ["http://shop.test:8080"]
