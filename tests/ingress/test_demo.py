"""`GET /demo` embeds the demo widget when a development setting names it, and is absent else."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from core.settings import Settings
from ingress.app import create_app


def test_the_demo_page_embeds_the_named_widget_with_one_script_tag(db: Any) -> None:
    with TestClient(create_app(Settings(demo_widget_id="wgt_demo"))) as client:
        page = client.get("/demo")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.count('<script src="/widget.js" data-widget="wgt_demo" async></script>') == 1


def test_without_a_demo_widget_there_is_no_demo_page(db: Any) -> None:
    with TestClient(create_app(Settings(demo_widget_id=None))) as client:
        page = client.get("/demo")
    assert page.status_code == 404
    assert page.headers["content-type"] == "application/problem+json"
    assert page.json()["type"].endswith("/not-found")


@pytest.mark.parametrize("widget_id", ["demo", 'wgt_"><script>', "wgt_"])
def test_a_demo_widget_id_that_is_no_widget_id_stops_start_up(widget_id: str) -> None:
    with pytest.raises(ValidationError):
        Settings(demo_widget_id=widget_id)
