"""The channel adapter contract every provider module implements, and its errors.

ChannelError (core.errors.DependencyError)
├── UnknownChannel        no adapter of that name (permanent)
├── SendRejected          the provider refused for good (core.errors.PermanentError)
└── SendFailed            worth retrying (core.errors.TransientError)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import DependencyError, PermanentError, TransientError


class ChannelError(DependencyError):
    """A channel adapter could not do what it was asked."""


class UnknownChannel(ChannelError, PermanentError):
    """No adapter is registered under that name."""


class SendRejected(ChannelError, PermanentError):
    """The provider refused the message; retrying will not help."""


class SendFailed(ChannelError, TransientError):
    """The send failed in a way that may succeed later."""


@dataclass(frozen=True)
class Outbound:
    """What the deliver stage hands an adapter: ids, the recipient and the reply content."""

    tenant_id: str
    message_id: str
    conversation_id: str
    recipient: str
    text: str
    parts: list[dict[str, Any]]


@dataclass(frozen=True)
class Receipt:
    """What the provider said: its message id, and whether sending already means delivered."""

    provider_message_id: str | None
    delivered: bool


class ChannelAdapter(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, outbound: Outbound) -> Receipt: ...
