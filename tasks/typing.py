"""The typing indicator a channel shows while the engine works on a turn: best effort, once.

A failure (provider refusal, timeout, no config) is logged and forgotten: an indicator is never
worth a retry, a delay or a failed turn.
"""

from __future__ import annotations

import logging

from channels.registry import TYPING_ADAPTERS
from core.envelopes import ReplyAddress
from storage.documents import MessageDocument
from tasks.runtime import WorkerClients

log = logging.getLogger("parley.tasks.typing")


def show_typing(c: WorkerClients, message: MessageDocument) -> None:
    """Ask the message's channel to show its user that a reply is being written."""
    adapter = TYPING_ADAPTERS.get(message["channel"])
    config_id = message.get("channel_config_id")
    if adapter is None or config_id is None:
        return
    try:
        config = c.channel_configs.for_delivery(message["tenant_id"], config_id)
        to = ReplyAddress(message["user_id"], dict(message.get("reply_to", {})))
        adapter.typing(to, config, c.channels)
    except Exception as exc:  # a hook that logs its own failure and never fails the turn
        log.warning(
            "no typing indicator for %s on %s: %s: %s",
            message["_id"], message["channel"], type(exc).__name__, exc,
        )  # fmt: skip
