"""The channel adapter contract every provider module implements, and its errors (the envelopes it
speaks in are in ``core/envelopes.py``).

    ChannelError (core.errors.ParleyError)
    ├── UnknownChannel        no adapter of that name                     → 404 / permanent
    ├── VerificationFailed    a webhook that is not authentic, or names an account the
    │                         config does not own                          → 401, nothing stored
    ├── SendRejected          the provider refused for good (core.errors.PermanentError)
    └── SendFailed            worth retrying (core.errors.TransientError)
        └── RateLimited       the provider asked us to slow down; carries its retry hint

Adapters are stateless: whatever must live between calls (the HTTP client, cached tokens and
signing keys) is in the per-process ``ChannelRuntime`` handed to ``verify`` and ``send``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from channels.runtime import ChannelRuntime
from core.envelopes import (
    ChannelConfig,
    Headers,
    Outbound,
    Receipt,
    ReplyAddress,
    Webhook,
)
from core.errors import ParleyError, PermanentError, TransientError


class ChannelError(ParleyError):
    """A channel adapter could not do what it was asked."""


class UnknownChannel(ChannelError, PermanentError):
    """No adapter is registered under that name."""


class VerificationFailed(ChannelError):
    """The webhook is not authentic (bad signature, stale timestamp, wrong token or account)."""


class SendRejected(ChannelError, PermanentError):
    """The provider refused the message; retrying will not help. ``code`` is the provider's."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class SendFailed(ChannelError, TransientError):
    """The send failed in a way that may succeed later (5xx, timeout, connection error)."""


class RateLimited(SendFailed):
    """The provider throttled us; ``retry_after`` (seconds) is its hint when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChannelAdapter(Protocol):
    """What the deliver stage needs of every channel: a name and ``send``."""

    @property
    def name(self) -> str: ...

    def send(self, outbound: Outbound, config: ChannelConfig, runtime: ChannelRuntime) -> Receipt:
        """One logical reply (one HTTP call per chunk), explicit timeout, typed errors."""
        ...


class TypingAdapter(ChannelAdapter, Protocol):
    """A channel that can show its user the bot is typing while the engine works: Messenger's
    ``typing_on``, WhatsApp's read-with-typing-indicator, Teams' ``typing`` activity. Slack is
    not one: its Web API gives bots no typing indicator (only the retired RTM socket had one)."""

    def typing(self, to: ReplyAddress, config: ChannelConfig, runtime: ChannelRuntime) -> None:
        """Show the indicator to the inbound message's sender, where it wrote: one HTTP call
        within ``runtime.indicator_timeout``, typed errors, never retried."""
        ...


class ChoiceAdapter(ChannelAdapter, Protocol):
    """A channel whose bot can change its own message to show which of its options the user
    chose there (Slack's ``chat.update``). Teams answers a card action in the webhook's own
    response instead (``Webhook.response``)."""

    def show_choice(
        self, clicked: Mapping[str, Any], title: str, config: ChannelConfig, runtime: ChannelRuntime
    ) -> None:
        """Update ``clicked`` (``InboundMessage.clicked``) to show ``title`` as the choice: one
        HTTP call, explicit timeout, typed errors."""
        ...


class WebhookAdapter(ChannelAdapter, Protocol):
    """A channel whose provider posts to Parley's webhook routes: the handshake, the check of a
    request's authenticity, and the parse of its body."""

    def handshake(self, query: Mapping[str, str], config: ChannelConfig) -> str:
        """The body to answer a GET verification handshake with; VerificationFailed if the
        channel has none or the token is wrong."""
        ...

    def verify(
        self, headers: Headers, raw_body: bytes, config: ChannelConfig, runtime: ChannelRuntime
    ) -> None:
        """Raise VerificationFailed unless the raw request is authentic for ``config``.
        Header names are lower-case. Comparisons are constant-time."""
        ...

    def parse(self, raw_body: bytes, content_type: str) -> Webhook:
        """Pure: the webhook's messages and status updates. Raises VerificationFailed for a
        body that cannot be understood (it was signed, but it is not a webhook)."""
        ...
