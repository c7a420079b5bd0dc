"""Browser tests: headless Debian Chromium (Playwright, sync API) against the whole platform.

``browser`` is one Chromium per session with a fresh profile; ``page`` is a new context's tab
whose uncaught errors fail the test; ``platform`` runs a real ingress, a Celery worker per chain
queue and the rules engine, with a seeded tenant and widget; ``site`` and ``foreign_site`` are
host pages on origins of their own, the first allowed by the widget, the second not.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_pages import PageErrors, StaticSite, embed_page
from browser_platform import Platform
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)
from processes import running_platform
from testenv import ENGINE_PORT, free_port

from core.crypto import SecretBox
from core.settings import Settings
from services.devstack.chromium import LAUNCH_ARGS, ensure_chromium
from storage.tenants import TenantRepository
from storage.widgets import WidgetRepository

# A DOM condition may wait for a whole turn (four stages and the engine) on a loaded machine:
# waits are bounds, never measurements, so they are generous.
expect.set_options(timeout=20_000)


# Module-scoped, not session-scoped: the sync API runs an event loop in the main thread while it
# is started, and tests after the browser's (asyncio.run in tests/ingress) need that thread free.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Debian's chromium, never a downloaded build; launch() gives it a fresh temporary profile.
    chromium = playwright.chromium.launch(executable_path=ensure_chromium(), args=list(LAUNCH_ARGS))
    yield chromium
    chromium.close()


@pytest.fixture
def page_errors() -> Iterator[PageErrors]:
    errors = PageErrors()
    yield errors
    assert not errors.uncaught, "uncaught errors in the page:\n" + "\n".join(errors.uncaught)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """One visitor: its own cookies and localStorage, shared by the tabs it opens."""
    ctx = browser.new_context(viewport={"width": 1100, "height": 760})
    yield ctx
    ctx.close()


@pytest.fixture
def new_tab(context: BrowserContext, page_errors: PageErrors) -> Callable[[], Page]:
    """Opens another tab of the same visitor, its errors watched like the first's."""
    return lambda: page_errors.watch(context.new_page())


@pytest.fixture
def page(new_tab: Callable[[], Page]) -> Page:
    return new_tab()


@pytest.fixture(scope="module")
def site() -> Iterator[StaticSite]:
    """A tenant's own site, on an origin the widget allows (pages are added by ``platform``)."""
    with StaticSite(
        {"/blank.html": "<!doctype html><title>blank</title><p>blank</p>"}
    ).serving() as s:
        yield s


@pytest.fixture(scope="module")
def foreign_site() -> Iterator[StaticSite]:
    """Somebody else's site, on an origin the widget does not allow."""
    with StaticSite({}).serving() as s:
        yield s


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory,
    db: Any,
    broker: Any,
    settings: Settings,
    site: StaticSite,
    foreign_site: StaticSite,
) -> Iterator[Platform]:
    """Module-scoped: the e2e modules start platforms of their own on the same engine port."""
    logs: Path = tmp_path_factory.mktemp("browser-logs")
    port = free_port()
    tenant, widget_id = "t_" + secrets.token_hex(4), "wgt_" + secrets.token_hex(6)
    base = f"http://127.0.0.1:{port}"
    TenantRepository(db).ensure(tenant, "Browser shop")
    WidgetRepository(db, SecretBox(settings.require_master_key())).ensure(
        widget_id,
        tenant,
        allowed_origins=[base, site.origin],
        title="Browser shop",
        greeting="Hello from the browser shop!",
    )
    page = embed_page(base, widget_id)
    site.pages["/embed.html"] = page
    foreign_site.pages["/embed.html"] = page
    env = {"PARLEY_DEMO_WIDGET_ID": widget_id}
    with running_platform(logs, ENGINE_PORT, port, env) as (url, group):
        yield Platform(url, port, group, env, tenant, widget_id, settings)
