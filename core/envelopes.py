"""The envelopes that cross the layers: a channel config, an inbound message, a provider's status
report, a change to the bot's place on the provider, a verified webhook, an outbound reply and
the provider's receipt for it.

Channels build and read them, storage persists them and the tasks hand them on, so they live
here, below all three (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# A request's headers as the channels read them: names lower-cased.
Headers = Mapping[str, str]


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
    thread_ts, Teams serviceUrl, conversation id and activity id). ``clicked`` is the bot's
    own message whose control the user used, as the channel needs it to show the choice made
    there (Slack: the message's channel, ts, text and blocks); None for anything else."""

    provider_message_id: str
    account_id: str
    user_id: str
    kind: str
    text: str
    content: Mapping[str, Any] = field(default_factory=dict)
    reply_to: Mapping[str, Any] = field(default_factory=dict)
    user_name: str | None = None
    sent_at: datetime | None = None
    clicked: Mapping[str, Any] | None = None


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


class ChannelEventKind(StrEnum):
    INSTALLED = "installed"  # the bot added to a chat, a meeting or a team
    UNINSTALLED = "uninstalled"
    MEMBERS_CHANGED = "members_changed"  # others joined or left a conversation the bot is in
    MEETING_STARTED = "meeting_started"
    MEETING_ENDED = "meeting_ended"


@dataclass(frozen=True)
class ChannelEvent:
    """Something that happened to the bot's place on the provider rather than a user's message
    (Teams' conversationUpdate, installationUpdate and meeting events). ``event_id`` is the
    provider's, stable across its redeliveries; ``detail`` holds the kind's data: ``source``
    (the provider's activity type), ``conversation_type``, ``team_id``, ``added``/``removed``
    counts, ``meeting_id``, ``meeting_type``, ``title``."""

    kind: ChannelEventKind
    account_id: str
    event_id: str
    conversation_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None


@dataclass(frozen=True)
class Webhook:
    """Everything one verified webhook request carried; bot echoes and other events dropped."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    events: list[ChannelEvent] = field(default_factory=list)
    account_ids: frozenset[str] = frozenset()  # every business account the body names
    event_id: str | None = None  # the provider's delivery id (Slack event_id), if any
    # A body to answer with: Slack's url_verification, Teams' invoke response to a card action.
    response: Mapping[str, Any] | None = None


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
class ReplyAddress:
    """Where an answer to an inbound message goes: its sender and its ``reply_to``."""

    recipient: str
    reply_to: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """The provider's ids for what was sent (several when long text was split), and whether
    sending already means delivered (channels without delivery callbacks)."""

    provider_message_ids: list[str]
    delivered: bool
