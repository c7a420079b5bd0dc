"""The widget as a test sees it: its stable hooks (docs/widget-protocol.md) inside its shadow root.

Playwright's CSS locators pierce open shadow roots, so ``[data-parley=…]`` finds the widget's
parts wherever the host page put it.
"""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Locator, Page, expect

OPENING_HOURS = "what are your opening hours?"
OPENING_HOURS_REPLY = "We are open Monday to Friday, 9:00 to 18:00."

# Records, on every change inside the widget, whether the typing indicator is shown and the text
# of each outbound message that was not there before: the streamed reply's successive states.
WATCH_TURN = """
() => {
  const host = [...document.querySelectorAll('*')].find(
    e => e.shadowRoot && e.shadowRoot.querySelector('[data-parley="launcher"]'));
  const root = host.shadowRoot;
  const before = new Set(root.querySelectorAll('[data-parley="message"]'));
  const turn = window.__parleyTurn = {sawTyping: false, texts: []};
  const look = () => {
    const typing = root.querySelector('[data-parley="typing"]');
    if (typing && typing.checkVisibility()) turn.sawTyping = true;
    const fresh = [...root.querySelectorAll('[data-parley="message"][data-direction="outbound"]')]
      .filter(e => !before.has(e));
    const text = fresh.length ? fresh[fresh.length - 1].textContent.trim() : '';
    if (text && turn.texts[turn.texts.length - 1] !== text) turn.texts.push(text);
  };
  new MutationObserver(look).observe(root, {
    subtree: true, childList: true, characterData: true, attributes: true});
}
"""


def hook(page: Page, name: str) -> Locator:
    return page.locator(f'[data-parley="{name}"]')


def messages(page: Page, direction: str, text: str | None = None) -> Locator:
    found = page.locator(f'[data-parley="message"][data-direction="{direction}"]')
    return found.filter(has_text=text) if text else found


def open_panel(page: Page) -> None:
    """Open the widget through its JavaScript API, once it is loaded."""
    expect(hook(page, "launcher")).to_be_visible()
    page.wait_for_function("window.Parley && typeof window.Parley.open === 'function'")
    page.evaluate("window.Parley.open()")
    expect(hook(page, "panel")).to_be_visible()


def send(page: Page, text: str) -> None:
    hook(page, "input").fill(text)
    hook(page, "input").press("Enter")


def wait_for_visitor(page: Page) -> None:
    """Until the visitor's id is kept (localStorage), so another tab is the same visitor."""
    page.wait_for_function(
        "Object.keys(localStorage).some(k => (localStorage.getItem(k) || '').includes('v_'))"
    )


def wait_for_stored(db: Any, message_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    """The stored message once its status is one of ``statuses`` (a worker's pace, not ours)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found: dict[str, Any] | None = db["messages"].find_one({"_id": message_id})
        if found and found.get("status") in statuses:
            return found
        time.sleep(0.1)
    raise AssertionError(f"message {message_id} never reached {statuses}: {found}")
