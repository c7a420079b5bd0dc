"""``GET /widget.js`` and ``GET /widget/{hash}.js``: the widget served cacheable and versioned,
small enough to embed anywhere, and a script a JavaScript engine accepts."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.settings import Settings
from ingress import widget_assets
from ingress.app import create_app

GZIPPED_LIMIT = 40 * 1024


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_the_widget_is_served_as_javascript_revalidated_every_five_minutes(
    client: TestClient,
) -> None:
    answer = client.get("/widget.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
    assert answer.headers["cache-control"] == "public, max-age=300"
    assert answer.content == widget_assets.WIDGET_FILE.read_bytes()
    assert answer.headers["etag"] == f'"{widget_assets.ASSET.version}"'


def test_a_current_etag_answers_304_with_no_body_and_a_stale_one_the_script(
    client: TestClient,
) -> None:
    etag = client.get("/widget.js").headers["etag"]
    for current in (etag, f'"stale", {etag}', f"W/{etag}", "*"):
        answer = client.get("/widget.js", headers={"If-None-Match": current})
        assert (answer.status_code, answer.content) == (304, b""), current
        assert answer.headers["etag"] == etag
        assert answer.headers["cache-control"] == "public, max-age=300"
    stale = client.get("/widget.js", headers={"If-None-Match": '"0123456789"'})
    assert stale.status_code == 200
    assert stale.content == widget_assets.ASSET.body


def test_the_versioned_url_is_immutable_and_another_version_is_a_404_problem(
    client: TestClient,
) -> None:
    version = widget_assets.ASSET.version
    answer = client.get(f"/widget/{version}.js")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
    assert answer.content == widget_assets.ASSET.body
    again = client.get(f"/widget/{version}.js", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    other = client.get("/widget/0123456789abcdef0123.js")
    assert other.status_code == 404
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["type"] == "https://parley.dev/problems/not-found"


def test_the_version_is_the_content_hash(tmp_path: Any) -> None:
    first, second = tmp_path / "a.js", tmp_path / "b.js"
    first.write_bytes(b"void 0;")
    second.write_bytes(b"void 1;")
    a, b = widget_assets.WidgetAsset.read(first), widget_assets.WidgetAsset.read(second)
    assert a.version != b.version
    assert a.version == widget_assets.WidgetAsset.read(first).version


def test_the_widget_is_under_40_kb_gzipped() -> None:
    size = len(gzip.compress(widget_assets.WIDGET_FILE.read_bytes(), compresslevel=9))
    assert size < GZIPPED_LIMIT, f"widget.js is {size} bytes gzipped, over {GZIPPED_LIMIT}"


def test_the_widget_parses_as_a_script_in_node() -> None:
    node = shutil.which("node")
    assert node, "node is not installed: the widget's checks need Node.js (apt install nodejs)"
    checked = subprocess.run(
        [node, "--check", str(widget_assets.WIDGET_FILE)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
