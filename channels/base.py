"""The channel adapter contract every provider module implements, its envelopes and its errors.

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
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from channels.runtime import ChannelRuntime
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


@dataclass(frozen=True)
class ChannelConfig:
    """One tenant's connection to one provider account, with its secrets decrypted.

    ``account_id`` is the provider-side id the webhooks name: WhatsApp ``phone_number_id``,
    Messenger page id, Slack team id, Teams bot app id.
    """

    id: str
    tenant_id: str
    channel: str
    account_id: str
    options: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class InboundMessage:
    """One user message parsed from a webhook. ``kind`` is text, image, media, location or
    interactive; ``content`` holds the kind's data (media id/url/mime_type/caption;
    latitude/longitude/name/address; the chosen option's id/payload and title).
    ``reply_to`` is what ``send`` needs to answer in the same place (e.g. Slack channel and
    thread_ts, Teams serviceUrl, conversation id and activity id)."""

    provider_message_id: str
    account_id: str
    user_id: str
    kind: str
    text: str
    content: Mapping[str, Any] = field(default_factory=dict)
    reply_to: Mapping[str, Any] = field(default_factory=dict)
    user_name: str | None = None
    sent_at: datetime | None = None


class DeliveryState(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


@dataclass(frozen=True)
class StatusUpdate:
    """A provider's word on messages we sent: one message by id (WhatsApp statuses, a Teams
    read receipt's last read id) or, for Messenger, everything sent to ``user_id`` before
    ``watermark``."""

    account_id: str
    state: DeliveryState
    provider_message_id: str | None = None
    user_id: str | None = None
    watermark: datetime | None = None
    error: Mapping[str, Any] | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Webhook:
    """Everything one verified webhook request carried; bot echoes and other events dropped."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    account_ids: frozenset[str] = frozenset()  # every business account the body names
    event_id: str | None = None  # the provider's delivery id (Slack event_id), if any
    response: Mapping[str, Any] | None = None  # a body to answer with (Slack url_verification)


@dataclass(frozen=True)
class Outbound:
    """What the deliver stage hands an adapter: ids, the recipient and the reply content."""

    tenant_id: str
    message_id: str
    conversation_id: str
    recipient: str
    text: str
    parts: list[dict[str, Any]]
    reply_to: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """The provider's ids for what was sent (several when long text was split), and whether
    sending already means delivered (channels without delivery callbacks)."""

    provider_message_ids: list[str]
    delivered: bool


class ChannelAdapter(Protocol):
    @property
    def name(self) -> str: ...

    def handshake(self, query: Mapping[str, str], config: ChannelConfig) -> str:
        """The body to answer a GET verification handshake with; VerificationFailed if the
        channel has none or the token is wrong."""
        ...

    def verify(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        config: ChannelConfig,
        runtime: ChannelRuntime,
    ) -> None:
        """Raise VerificationFailed unless the raw request is authentic for ``config``.
        Header names are lower-case. Comparisons are constant-time."""
        ...

    def parse(self, raw_body: bytes, content_type: str) -> Webhook:
        """Pure: the webhook's messages and status updates. Raises VerificationFailed for a
        body that cannot be understood (it was signed, but it is not a webhook)."""
        ...

    def send(self, outbound: Outbound, config: ChannelConfig, runtime: ChannelRuntime) -> Receipt:
        """One logical reply (one HTTP call per chunk), explicit timeout, typed errors."""
        ...
