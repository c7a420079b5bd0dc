"""The registry: every channel answers on ``send``; only providers that post webhooks are
known to the webhook routes."""

from __future__ import annotations

import pytest

from channels.base import UnknownChannel
from channels.registry import ADAPTERS, SPECS, WEBHOOK_ADAPTERS, adapter_for, webhook_adapter_for


@pytest.mark.parametrize("channel", ["api", "web"])
def test_a_channel_without_webhooks_is_unknown_to_the_webhook_routes(channel: str) -> None:
    assert adapter_for(channel).name == channel
    with pytest.raises(UnknownChannel):
        webhook_adapter_for(channel)


def test_every_webhook_channel_is_connectable_and_deliverable() -> None:
    assert set(WEBHOOK_ADAPTERS) == set(SPECS)
    for name, adapter in WEBHOOK_ADAPTERS.items():
        assert adapter_for(name) is adapter
        assert webhook_adapter_for(name).name == name
    assert set(ADAPTERS) == set(WEBHOOK_ADAPTERS) | {"api", "web"}
