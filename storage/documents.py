"""The shapes of the stored documents (messages, conversations, dead letters), for the checker.

A key that is ``NotRequired`` is missing from some documents: written by a later stage, only on
one direction or channel, or removed again. Reads with a projection return fewer keys than the
type names; each such read says which it uses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict


class OutboxEntry(TypedDict):
    """An event as stored in its document's outbox, already serialised (storage/outbox.py)."""

    id: str
    topic: str
    key: str
    value: str


class Failure(TypedDict):
    """Why a dead-lettered message gave up."""

    stage: str
    reason: str
    error: str


class StageRecord(TypedDict):
    """One processor's run on a message (docs/processing.md)."""

    processor: str
    stage: str
    outcome: str  # ok, failed, timeout, disabled or refused
    duration_ms: float
    error: NotRequired[str]


class Refusal(TypedDict):
    reason: str  # invalid, policy:<category>, media:infected ...
    reply: str


class Processing(TypedDict):
    """What the process stage found (processors/pipeline.py); each processor's result is under
    its name (language, entities, sentiment, safety, media, location, metadata ...)."""

    normalized_text: str
    message_type: str
    length: int
    kind: NotRequired[str]
    engine_text: NotRequired[str]  # what the engine and the events see (redacted, if so)
    stages: NotRequired[list[StageRecord]]
    refused: NotRequired[Refusal]


class EngineAnswer(TypedDict):
    """What a reply keeps of the engine's answer; ``backend`` is ``fallback`` when it had none."""

    intent: str
    backend: str


class ChoiceShown(TypedDict):
    """Whether the clicked message now shows the user's choice: ``shown``, ``refused`` by the
    provider for good (``code``: e.g. Slack's ``message_not_found``), or ``failed`` after the
    retries ran out."""

    state: Literal["shown", "refused", "failed"]
    at: datetime
    code: NotRequired[str]


class MessageDocument(TypedDict):
    """A message in ``messages``: a user's inbound message, or the bot's reply (``.r``)."""

    _id: str
    tenant_id: str
    conversation_id: str
    channel: str
    direction: Literal["inbound", "outbound"]
    user_id: str
    text: str
    status: str
    # Status (or stage, e.g. ``audited``) → when the message reached it.
    journey: dict[str, datetime]
    created_at: datetime
    updated_at: datetime
    # Unique per tenant; ``released:<id>`` once its idempotency window is over.
    dedupe_key: str
    outbox: NotRequired[list[OutboxEntry]]
    # Inbound from the API.
    metadata: NotRequired[dict[str, Any]]
    submitted_by: NotRequired[str]
    request_digest: NotRequired[str]
    idempotency_key: NotRequired[str]
    released_idempotency_key: NotRequired[str]
    # Inbound from a provider; a reply's is its first part's id once sent (None if it has none).
    provider_message_id: NotRequired[str | None]
    channel_config_id: NotRequired[str | None]
    kind: NotRequired[str]
    content: NotRequired[dict[str, Any]]
    reply_to: NotRequired[dict[str, Any]]
    user_name: NotRequired[str | None]
    # A click on a control of the bot's message: that message, to show the choice on it
    # (core.envelopes.InboundMessage.clicked), and how showing it went (tasks/choices.py).
    clicked: NotRequired[dict[str, Any]]
    choice_shown: NotRequired[ChoiceShown]
    # Inbound from a web widget: the browser's own id for the message (docs/widget-protocol.md).
    client_message_id: NotRequired[str]
    # Written by the stages.
    processing: NotRequired[Processing]
    reply_id: NotRequired[str]
    failure: NotRequired[Failure]
    attempts: NotRequired[dict[str, int]]
    first_attempt_at: NotRequired[dict[str, datetime]]
    next_attempt_at: NotRequired[datetime]
    replayed_at: NotRequired[datetime]
    redriven: NotRequired[int]
    # Outbound (the reply).
    in_reply_to: NotRequired[str]
    # A message the tenant started (POST /v1/outbound, docs/outbound.md): its own reply.
    proactive: NotRequired[bool]
    answers: NotRequired[list[str]]  # a reply's inbound messages, oldest first (docs/bursts.md)
    parts: NotRequired[list[dict[str, Any]]]  # channels.content.ReplyPart, tagged by ``type``
    engine: NotRequired[EngineAnswer]
    provider_message_ids: NotRequired[list[str]]
    sent_parts: NotRequired[int]
    # The adapter's refusal, a provider's failure report, or the last send error's text.
    delivery_error: NotRequired[dict[str, Any] | str]


class StuckTurn(TypedDict):
    """The part of an inbound message the reconciler reads (``MessageRepository.stuck``)."""

    _id: str
    tenant_id: str
    conversation_id: str
    status: str
    updated_at: datetime
    next_attempt_at: NotRequired[datetime]


class RecentEntry(TypedDict):
    """A message as a conversation's ``recent`` window keeps it for the engine's history."""

    _id: str
    direction: Literal["inbound", "outbound"]
    text: str
    created_at: datetime


class ConversationDocument(TypedDict):
    """A conversation in ``conversations``: one open per (tenant, channel, user, account)."""

    _id: str
    tenant_id: str
    open_key: str
    channel: str
    user_id: str
    state: str
    # The provider account it is held on; None for the API and web channels.
    channel_config_id: str | None
    started_by: str
    created_at: datetime
    last_message_at: datetime
    updated_at: datetime
    outbox: NotRequired[list[OutboxEntry]]
    last_message_id: NotRequired[str]
    recent: NotRequired[list[RecentEntry]]
    # The how-many-th conversation of its open key (0 when absent); see storage/conversations.py.
    generation: NotRequired[int]
    closed_at: NotRequired[datetime]
    close_reason: NotRequired[str]  # "closed" (the API) or "idle" (the beat job)
    # When the user last wrote (the channels' 24-hour windows, docs/outbound.md); absent until
    # its first turn is generated: its creation, by the user's first message, stands for it.
    last_inbound_at: NotRequired[datetime]


class LastError(TypedDict):
    type: str
    message: str
    classification: str


class ReplayClaim(TypedDict):
    """The ``dead_letter_claims`` claim a replay holds (storage/claims.py)."""

    generation: int
    token: str


class DeadLetterDocument(TypedDict):
    """A dead letter in ``dead_letters``: one turn's failure at one stage."""

    _id: str
    tenant_id: str
    message_id: str
    conversation_id: str
    channel: str
    stage: str
    attempts: int
    last_error: LastError
    first_attempt_at: datetime
    last_attempt_at: datetime
    state: str
    replays: int
    created_at: datetime
    updated_at: datetime
    # While a replay holds it, and when it last finished one.
    replay_claim: NotRequired[ReplayClaim]
    replay_claimed_at: NotRequired[datetime]
    replayed_at: NotRequired[datetime]


# A document whose ``outbox`` carries the events its changes caused (storage/outbox.py).
OutboxOwner = MessageDocument | ConversationDocument
