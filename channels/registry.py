"""The explicit registry of channel adapters; the webhook routes and deliver stage look up here."""

from __future__ import annotations

from channels.api import ApiChannel
from channels.base import ChannelAdapter, UnknownChannel

ADAPTERS: dict[str, ChannelAdapter] = {
    "api": ApiChannel(name="api"),
    "web": ApiChannel(name="web"),
}


def adapter_for(channel: str) -> ChannelAdapter:
    try:
        return ADAPTERS[channel]
    except KeyError:
        raise UnknownChannel(f"no channel adapter named {channel!r}") from None
