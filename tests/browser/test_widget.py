"""The chat widget in a real browser, on the demo page and on tenants' sites (issue 12)."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_pages import StaticSite
from browser_platform import Platform
from playwright.sync_api import Page, WebSocket, expect
from widget_page import (
    OPENING_HOURS,
    OPENING_HOURS_REPLY,
    WATCH_TURN,
    hook,
    messages,
    open_panel,
    send,
    wait_for_stored,
    wait_for_visitor,
)

pytestmark = pytest.mark.browser


def one_pixel_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixel = zlib.compress(b"\x00\xff\x80\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixel) + chunk(b"IEND", b"")
    )


def test_a_message_on_the_demo_page_gets_a_typing_indicator_and_a_streamed_reply(
    platform: Platform, page: Page
) -> None:
    page.goto(platform.demo_url())
    open_panel(page)
    page.evaluate(WATCH_TURN)
    send(page, OPENING_HOURS)
    expect(messages(page, "inbound", OPENING_HOURS)).to_have_count(1)
    expect(messages(page, "outbound", OPENING_HOURS_REPLY)).to_have_count(1)
    turn = page.evaluate("window.__parleyTurn")
    assert turn["sawTyping"] is True
    texts = turn["texts"]
    assert texts[-1] == OPENING_HOURS_REPLY
    assert len(set(texts)) > 1, texts  # the text grew before the final one
    assert all(OPENING_HOURS_REPLY.startswith(text) for text in texts), texts


def test_after_a_reload_the_conversation_is_still_there(platform: Platform, page: Page) -> None:
    page.goto(platform.demo_url())
    open_panel(page)
    send(page, OPENING_HOURS)
    expect(messages(page, "outbound", OPENING_HOURS_REPLY)).to_have_count(1)
    page.reload()
    open_panel(page)
    expect(messages(page, "inbound", OPENING_HOURS)).to_have_count(1)
    expect(messages(page, "outbound", OPENING_HOURS_REPLY)).to_have_count(1)


def test_a_quick_reply_button_sends_its_choice(platform: Platform, page: Page) -> None:
    page.goto(platform.demo_url())
    open_panel(page)
    send(page, "hello")  # the rules engine greets with quick replies
    button = hook(page, "quick-reply").filter(has_text="Opening hours")
    expect(button).to_have_count(1)
    button.click()
    expect(messages(page, "inbound", "Opening hours")).to_have_count(1)
    expect(messages(page, "outbound", OPENING_HOURS_REPLY)).to_have_count(1)


def test_an_uploaded_image_is_shown_in_the_thread(
    platform: Platform, page: Page, tmp_path: Path
) -> None:
    image = tmp_path / "pixel.png"
    image.write_bytes(one_pixel_png())
    page.goto(platform.demo_url())
    open_panel(page)
    with page.expect_file_chooser() as chooser:
        hook(page, "upload").click()
    chooser.value.set_files(str(image))
    shown = messages(page, "inbound").locator("img")
    expect(shown).to_have_count(1)
    expect(shown).to_have_js_property("naturalWidth", 1)  # the upload itself, loaded


def test_two_tabs_of_one_visitor_show_the_same_conversation(
    platform: Platform, page: Page, new_tab: Callable[[], Page]
) -> None:
    page.goto(platform.demo_url())
    open_panel(page)
    wait_for_visitor(page)
    second = new_tab()
    second.goto(platform.demo_url())
    open_panel(second)
    send(page, OPENING_HOURS)
    for tab in (page, second):
        expect(messages(tab, "inbound", OPENING_HOURS)).to_have_count(1)
        expect(messages(tab, "outbound", OPENING_HOURS_REPLY)).to_have_count(1)


def test_a_reply_made_while_the_ingress_restarts_is_shown_once_after_the_reconnect(
    platform: Platform, page: Page, db: Any
) -> None:
    page.goto(platform.demo_url())
    open_panel(page)
    platform.stop_worker("deliver")  # the reply waits until the ingress is gone
    try:
        send(page, OPENING_HOURS)
        sent = messages(page, "inbound", OPENING_HOURS)
        expect(sent).to_have_attribute("data-message-id", re.compile(r"^msg_"))  # accepted
        message_id = sent.get_attribute("data-message-id")
        assert message_id
        platform.stop_ingress()
    finally:
        platform.start_worker("deliver")
    wait_for_stored(db, message_id, ("delivered", "completed"))  # published while it was down
    platform.start_ingress()
    # The widget retries with backoff capped at 30 s: its next try may be that far off.
    expect(messages(page, "outbound", OPENING_HOURS_REPLY)).to_have_count(1, timeout=45_000)
    expect(messages(page, "inbound", OPENING_HOURS)).to_have_count(1)
    ids = messages(page, "outbound").evaluate_all("els => els.map(e => e.dataset.messageId)")
    assert len(ids) == len(set(ids)), ids


def test_the_widget_on_an_allowed_site_chats(
    platform: Platform, page: Page, site: StaticSite
) -> None:
    page.goto(site.url("/embed.html"))
    open_panel(page)
    send(page, OPENING_HOURS)
    expect(messages(page, "outbound", OPENING_HOURS_REPLY)).to_have_count(1)


def test_a_site_the_widget_does_not_allow_gets_no_session(
    platform: Platform, page: Page, foreign_site: StaticSite
) -> None:
    sockets: list[WebSocket] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    sessions = f"{platform.base}/v1/widget/{platform.widget_id}/sessions"
    with page.expect_request(lambda r: r.url == sessions) as asked:
        page.goto(foreign_site.url("/embed.html"))
    answer = asked.value.response()
    assert answer is None or answer.status == 403  # refused, or blocked by CORS before
    expect(messages(page, "inbound")).to_have_count(0)
    expect(messages(page, "outbound")).to_have_count(0)
    assert sockets == []
    direct = httpx.post(sessions, headers={"Origin": foreign_site.origin}, json={}, timeout=10)
    assert direct.status_code == 403
    assert direct.json()["type"].endswith("/origin-not-allowed")
    assert "access-control-allow-origin" not in direct.headers


def test_the_widget_is_used_with_the_keyboard_alone(platform: Platform, page: Page) -> None:
    page.goto(platform.demo_url())
    launcher = hook(page, "launcher")
    expect(launcher).to_be_visible()
    focused = "el => el.getRootNode().activeElement === el"
    for _ in range(30):  # the page's own links come first
        if launcher.evaluate(focused):
            break
        page.keyboard.press("Tab")
    assert launcher.evaluate(focused), "Tab never reached the launcher"
    page.keyboard.press("Enter")
    expect(hook(page, "panel")).to_be_visible()
    expect(hook(page, "input")).to_be_focused()
    page.keyboard.type(OPENING_HOURS)
    page.keyboard.press("Enter")
    expect(messages(page, "outbound", OPENING_HOURS_REPLY)).to_have_count(1)
    page.keyboard.press("Escape")
    expect(hook(page, "panel")).to_be_hidden()
    expect(launcher).to_be_focused()


def test_a_conversation_closed_through_the_api_shows_as_ended(
    platform: Platform, page: Page
) -> None:
    page.goto(platform.demo_url())
    open_panel(page)
    send(page, OPENING_HOURS)
    expect(messages(page, "outbound", OPENING_HOURS_REPLY)).to_have_count(1)
    message_id = messages(page, "inbound", OPENING_HOURS).get_attribute("data-message-id")
    conversation = platform.get(f"/v1/messages/{message_id}")["conversation_id"]
    closed = httpx.post(
        f"{platform.base}/v1/conversations/{conversation}/close",
        headers=platform.headers(),
        timeout=10,
    )
    assert closed.status_code == 200, closed.text
    expect(hook(page, "ended")).to_be_visible()
