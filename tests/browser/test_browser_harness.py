"""The harness itself: Debian's Chromium runs pages the fixtures serve and reports their errors."""

from __future__ import annotations

import httpx
import pytest
from browser_pages import PageErrors, StaticSite
from browser_platform import Platform
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser


def test_the_browser_runs_a_script_on_a_page_the_site_serves(page: Page, site: StaticSite) -> None:
    page.goto(site.url("/blank.html"))
    expect(page).to_have_title("blank")
    page.evaluate("setTimeout(() => { document.body.dataset.ran = String(6 * 7) }, 0)")
    page.wait_for_function("document.body.dataset.ran === '42'")
    assert page.evaluate("location.origin") == site.origin
    assert page.evaluate("navigator.webdriver") is True  # driven by Playwright, headless


def test_an_uncaught_error_in_a_page_is_reported(browser: Browser, site: StaticSite) -> None:
    errors = PageErrors()
    tab = errors.watch(browser.new_page())
    try:
        tab.goto(site.url("/blank.html"))
        tab.evaluate("setTimeout(() => { throw new Error('boom in the page') }, 0)")
        tab.evaluate("console.error('said on the console')")
        # Timers run in order: once this one has, the error's event was sent before the answer.
        tab.evaluate("new Promise(r => setTimeout(r, 0))")
    finally:
        tab.close()
    assert any("boom in the page" in error for error in errors.uncaught), errors.uncaught
    assert errors.console == ["said on the console"]


def test_the_platform_serves_the_demo_page_with_the_seeded_widget(
    platform: Platform, page: Page
) -> None:
    served = httpx.get(platform.demo_url(), timeout=10)
    assert served.status_code == 200
    tag = f'<script src="/widget.js" data-widget="{platform.widget_id}" async></script>'
    assert tag in served.text
    page.goto(platform.demo_url())
    expect(page.locator("h1")).to_have_text("Parley demo")
    src = page.locator("script[data-widget]").evaluate("s => s.src")
    assert src == f"{platform.base}/widget.js"
