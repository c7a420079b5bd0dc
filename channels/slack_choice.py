"""A Slack user's click shown on the bot's message itself: ``chat.update`` of that message with
its buttons replaced by one line, "✓ <choice>", so the question reads as answered and cannot be
answered twice.

``chat.update`` rather than the payload's ``response_url``: it takes the bot token Parley holds
anyway and answers in the Web API's own error codes (``slack_api``), it has no 30-minute or
five-use limit (a retry after an outage still works), and it calls only Slack's API host, never
a URL taken from a request body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels import slack_api
from channels.runtime import ChannelRuntime

UPDATE = "chat.update"
CHOSEN = "✓"
# Block elements that are controls: a section's accessory of these kinds goes with the buttons.
CONTROLS = frozenset(
    {"button", "static_select", "overflow", "radio_buttons", "checkboxes", "datepicker"}
)


def chosen_line(title: str) -> dict[str, Any]:
    """The context block that stands where the buttons were; plain text, so a title can never
    form a mention or a link."""
    text = f"{CHOSEN} {title}".strip()
    return {"type": "context", "elements": [{"type": "plain_text", "text": text, "emoji": True}]}


def chosen_blocks(blocks: list[Any], title: str) -> list[dict[str, Any]]:
    """``blocks`` with the first ``actions`` block replaced by the chosen line and any other
    control dropped; the line goes last when the message had no actions block."""
    line = chosen_line(title)
    kept: list[dict[str, Any]] = []
    placed = False
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "actions":
            if not placed:
                kept.append(line)
                placed = True
            continue
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") in CONTROLS:
            block = {key: value for key, value in block.items() if key != "accessory"}
        kept.append(block)
    return kept if placed else [*kept, line]


def update_body(clicked: Mapping[str, Any], title: str) -> dict[str, Any]:
    """The ``chat.update`` arguments for the clicked message: same channel and ts, its text
    kept as the notification fallback, its blocks with the choice in place of the buttons."""
    blocks = clicked.get("blocks")
    text = str(clicked.get("text") or "") or chosen_line(title)["elements"][0]["text"]
    return {
        "channel": str(clicked["channel"]),
        "ts": str(clicked["ts"]),
        "text": text,
        "blocks": chosen_blocks(blocks if isinstance(blocks, list) else [], title),
    }


def show_choice(
    runtime: ChannelRuntime, token: str, clicked: Mapping[str, Any], title: str
) -> None:
    slack_api.call(runtime, token, UPDATE, update_body(clicked, title))
