"""The plain HTTP API channel: replies are read back through the API."""

from __future__ import annotations

from dataclasses import dataclass

from channels.runtime import ChannelRuntime
from core.envelopes import ChannelConfig, Outbound, Receipt


@dataclass(frozen=True)
class ApiChannel:
    """Nothing leaves Parley: storing the reply is delivering it; the client fetches it.

    Messages arrive through the authenticated ``POST /v1/messages``, never by webhook, so this
    is a ``ChannelAdapter`` and not a ``WebhookAdapter``: the webhook routes do not know it.
    """

    name: str = "api"

    def send(self, outbound: Outbound, config: ChannelConfig, runtime: ChannelRuntime) -> Receipt:
        return Receipt(provider_message_ids=[], delivered=True)
