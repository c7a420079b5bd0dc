"""`parley run` seeds the demo tenant's widget for its port and prints the demo page's address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli.platform import DEMO_TENANT, DEMO_WIDGET, _print_welcome, seed_demo
from core.settings import Settings


def test_the_demo_widget_is_seeded_once_and_allows_the_current_port(db: Any) -> None:
    seed_demo(8123)
    db["widgets"].update_one({"_id": DEMO_WIDGET}, {"$set": {"greeting": "changed by hand"}})
    seed_demo(8124)
    widgets = list(db["widgets"].find({"_id": DEMO_WIDGET}))
    assert len(widgets) == 1
    widget = widgets[0]
    assert widget["tenant_id"] == DEMO_TENANT
    assert widget["enabled"] is True
    assert widget["allowed_origins"] == ["http://127.0.0.1:8124", "http://localhost:8124"]
    assert widget["greeting"] == "changed by hand"  # an operator's edit survives a restart
    assert widget["theme"]["title"]
    assert db["tenants"].count_documents({"_id": DEMO_TENANT}) == 1


def test_the_welcome_names_the_demo_page(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        "PARLEY_JWT_SECRET": settings.require_jwt_secret().decode(),
        "PARLEY_FLOWER_BASIC_AUTH": "parley:dev-login",
    }
    _print_welcome(settings, env, 8000, tmp_path)
    out = capsys.readouterr().out
    assert "  http://127.0.0.1:8000/demo\n" in out
    assert "(login parley:dev-login)" in out  # the development Flower login, to sign in with
