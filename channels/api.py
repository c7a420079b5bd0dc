"""The plain HTTP API and web-widget channel: replies are read back through the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from channels.base import VerificationFailed
from channels.runtime import ChannelRuntime
from core.envelopes import ChannelConfig, Outbound, Receipt, Webhook


@dataclass(frozen=True)
class ApiChannel:
    """Nothing leaves Parley: storing the reply is delivering it; the client fetches it.

    Messages arrive through the authenticated ``POST /v1/messages``, never by webhook.
    """

    name: str = "api"

    def handshake(self, query: Mapping[str, str], config: ChannelConfig) -> str:
        raise VerificationFailed(f"the {self.name} channel has no webhook")

    def verify(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        config: ChannelConfig,
        runtime: ChannelRuntime,
    ) -> None:
        raise VerificationFailed(f"the {self.name} channel has no webhook")

    def parse(self, raw_body: bytes, content_type: str) -> Webhook:
        raise VerificationFailed(f"the {self.name} channel has no webhook")

    def send(self, outbound: Outbound, config: ChannelConfig, runtime: ChannelRuntime) -> Receipt:
        return Receipt(provider_message_ids=[], delivered=True)
