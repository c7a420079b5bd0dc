"""The README's picture of the widget, taken from the demo page by the test suite's browser.

``PARLEY_WRITE_SCREENSHOT=1`` writes it to docs/images/widget.png; every run checks it is a
real image.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser_platform import Platform
from playwright.sync_api import Page, expect
from widget_page import OPENING_HOURS, OPENING_HOURS_REPLY, messages, open_panel, send

pytestmark = pytest.mark.browser

README_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "widget.png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_the_open_widget_is_photographed_for_the_readme(platform: Platform, page: Page) -> None:
    page.goto(platform.demo_url())
    open_panel(page)
    send(page, OPENING_HOURS)
    expect(messages(page, "outbound", OPENING_HOURS_REPLY)).to_have_count(1)
    shot = page.screenshot(animations="disabled")
    assert shot.startswith(PNG_SIGNATURE)
    assert len(shot) > 10_000  # a rendered page, not an empty canvas
    if os.environ.get("PARLEY_WRITE_SCREENSHOT") == "1":
        README_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        README_IMAGE.write_bytes(shot)
