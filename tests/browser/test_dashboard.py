"""The analytics dashboard in Chromium against a real ingress: a tenant signs in with a token and
sees its figures drawn with the numbers the analytics handler counted.

``PARLEY_WRITE_SCREENSHOT=1`` writes the README's picture to docs/images/dashboard.png.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from processes import process_group, wait_http_ok
from testenv import free_port

from consumers.analytics import Analytics
from core.scopes import ANALYTICS_READ
from core.settings import Settings
from core.timeutil import isoformat
from core.tokens import mint_token
from tests.analytics_events import conversation, event

pytestmark = pytest.mark.browser

README_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "dashboard.png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = (datetime.now(UTC) - timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)
HOURS = 4


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory, db: Any, broker: Any) -> Iterator[str]:
    port = free_port()
    with process_group(tmp_path_factory.mktemp("dashboard-logs")) as group:
        group.start("ingress", "ingress", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{base}/health/live", group)
        yield base


def _counted(db: Any, tenant: str) -> None:
    """Hour 0: two conversations answered in 120 and 480 ms; hour 2: one in 900 ms, a failure."""
    handler = Analytics(db)
    events: list[dict[str, Any]] = []
    for hour, waits in ((0, [120]), (0, [480]), (2, [900])):
        _, made = conversation(db, tenant, START + timedelta(hours=hour, minutes=5), waits)
        events += made
    at = START + timedelta(hours=2, minutes=30)
    failed = {"conversation_id": "conv_x", "message_id": "msg_x", "reason": "engine_unavailable"}
    events.append(event("chat.message.failed", f"{tenant}:failed", tenant, at, **failed))
    for one in events:
        handler.handle(one)


def _values(page: Page, selector: str) -> list[str]:
    found: list[str] = page.eval_on_selector_all(
        selector, "nodes => nodes.map(n => n.getAttribute('data-value'))"
    )
    return found


def test_a_tenant_signs_in_and_sees_its_figures_drawn(
    ingress: str, page: Page, db: Any, settings: Settings
) -> None:
    tenant = "t_" + secrets.token_hex(4)
    _counted(db, tenant)
    token = mint_token(
        settings.require_jwt_secret(), tenant, "analyst", 600, scopes=[ANALYTICS_READ]
    )
    end = START + timedelta(hours=HOURS)
    page.goto(f"{ingress}/dashboard?from={isoformat(START)}&to={isoformat(end)}&interval=hour")

    page.fill("#credential", token)
    page.click("#login button[type=submit]")

    expect(page.locator("body[data-loaded=true]")).to_have_count(1)
    expect(page.locator("[data-metric=messages_in]")).to_have_attribute("data-value", "3")
    expect(page.locator("[data-metric=response_p50_ms]")).to_have_attribute("data-value", "480")
    expect(page.locator("[data-metric=response_p95_ms]")).to_have_attribute("data-value", "900")
    expect(page.locator("[data-metric=delivery_rate]")).to_have_attribute("data-value", "1")
    assert _values(page, "rect[data-series=messages_in]") == ["2", "0", "1", "0"]
    assert _values(page, "rect[data-series=messages_out]") == ["2", "0", "1", "0"]
    assert _values(page, "circle[data-series=response_p95_ms]") == ["480", "900"]
    assert _values(page, "rect[data-series=failures]") == ["1"]
    assert _values(page, "rect[data-series=languages][data-label=en]") == ["3"]
    # The credential stays in this tab's sessionStorage, not in the page or a cookie.
    assert page.evaluate("sessionStorage.getItem('parley.dashboard.credential')") == token
    assert page.context.cookies() == []

    shot = page.screenshot(full_page=True, animations="disabled")
    assert shot.startswith(PNG_SIGNATURE) and len(shot) > 10_000
    if os.environ.get("PARLEY_WRITE_SCREENSHOT") == "1":
        README_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        README_IMAGE.write_bytes(shot)


def test_a_refused_credential_shows_the_sign_in_form_again(ingress: str, page: Page) -> None:
    page.goto(f"{ingress}/dashboard")

    page.fill("#credential", "pk_key_not_a_real_key")
    page.click("#login button[type=submit]")

    expect(page.locator("#login-error")).to_contain_text("Signed out")
    expect(page.locator("#login")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('parley.dashboard.credential')") is None
