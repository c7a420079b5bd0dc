"""What the ingress answers, as pydantic models: each handler builds its body with one of
them, so the JSON it sends and the schema ``/openapi.json`` shows are one description.

A response model reads the stored document: ids come from ``_id``, internal fields (dedupe
keys, digests, hashes, sealed secrets) are not fields and stay inside, and a field marked
``absent()`` is left out of the JSON, not set to null, when it has no value. Their schemas
forbid unknown fields and require every field but the absent ones. Problems stay open:
RFC 9457 lets them carry extension members.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import JSONResponse

from channels.alerts import masked_url
from channels.registry import WEBHOOK_ADAPTERS
from core.states import Status
from core.timeutil import isoformat
from storage.conversations import CLOSE_REASONS, CONVERSATION_STATES
from storage.dead_letters import CLASSIFICATIONS, REPLAYED, STAGES, STATES
from storage.notification_rules import DEFAULT_QUIET_SECONDS, SLACK
from storage.notifications import OUTCOMES as NOTIFICATION_OUTCOMES
from storage.notifications import TARGET_OUTCOMES
from storage.webhook_deliveries import OPEN_STATUSES as DELIVERY_OPEN_STATUSES
from storage.webhook_deliveries import STATUSES as DELIVERY_STATUSES
from storage.webhook_subscriptions import STATUSES as SUBSCRIPTION_STATUSES
from storage.widgets import identity_verification

# RFC 3339 with milliseconds and a ``Z``, as every timestamp the API shows.
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda at: cast(str, isoformat(at)), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _is_none(value: Any) -> bool:
    return value is None


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(description: str | None = None) -> Any:
    """A field left out of the JSON (rather than set to null) when it has no value."""
    return Field(
        default=None, description=description, exclude_if=_is_none, json_schema_extra=_drop_default
    )


def _exactly_these_fields(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Every field is always sent but the absent ones, and no other: say so in the schema."""
    fields = model.model_fields
    schema["additionalProperties"] = False
    required = [name for name, info in fields.items() if info.exclude_if is None]
    if required:
        schema["required"] = required
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)  # a default fills a field the stored document lacks


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_exactly_these_fields)


class FieldError(_Body):
    """One reason the body was refused."""

    field: str = Field(description="dotted path into the body; `(body)` for the whole body")
    message: str
    type: str = Field(description="pydantic's error type, e.g. `missing`, `string_too_long`")


class ProblemDetails(BaseModel):
    """RFC 9457 problem details; every error the ingress answers has this shape."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        description="`https://parley.dev/problems/<slug>`; the slug names the error",
        json_schema_extra={"format": "uri"},
    )
    title: str
    status: int = Field(description="the HTTP status code, repeated")
    detail: str | SkipJsonSchema[None] = absent()
    instance: str = Field(description="the request's path")
    errors: list[FieldError] | SkipJsonSchema[None] = absent(
        "only on `validation-error` (422): each refused field"
    )
    check: str | SkipJsonSchema[None] = absent(
        "only on `account-not-proven` and `provider-unavailable`: the provider call that "
        "was to prove the account"
    )


class NotReady(BaseModel):
    """The 503 of `GET /health/ready`: a problem that lists each dependency's state."""

    model_config = ConfigDict(extra="allow")

    type: Literal["https://parley.dev/problems/not-ready"]
    title: str
    status: Literal[503]
    detail: str = Field(description="`unavailable: ` and the failed checks' names")
    checks: dict[str, str] = Field(description="`up`, or `down: <error type>`, per dependency")
    degraded: list[str] = Field(description="the optional dependencies (kafka, engine) down")


class MessageFailure(_Body):
    stage: str
    error: str


class ProcessingStage(_Body):
    """One processor's run on the message."""

    processor: str
    stage: Literal["validation", "normalisation", "processing", "enrichment", "analysis"]
    outcome: Literal["ok", "failed", "timeout", "disabled", "refused"]
    duration_ms: float = Field(ge=0)
    error: str | SkipJsonSchema[None] = absent("on `failed`: the error's type and message")


class ProcessingRefusal(_Body):
    reason: str = Field(description="`invalid`, `policy:<category>`, `media:infected` ...")
    reply: str = Field(description="what the user was answered instead of the engine")


class ProcessingView(_Body):
    """What the processing pipeline found (docs/processing.md); a processor's result is left
    out when it did not run or found nothing."""

    normalized_text: str
    message_type: str
    length: int
    kind: str | SkipJsonSchema[None] = absent()
    engine_text: str | SkipJsonSchema[None] = absent("what the engine saw (redacted, if so)")
    stages: list[ProcessingStage] = Field(default_factory=list)
    refused: ProcessingRefusal | SkipJsonSchema[None] = absent()
    message: dict[str, Any] | SkipJsonSchema[None] = absent()
    content: dict[str, Any] | SkipJsonSchema[None] = absent()
    metadata: dict[str, Any] | SkipJsonSchema[None] = absent()
    language: dict[str, Any] | SkipJsonSchema[None] = absent()
    entities: list[dict[str, Any]] | SkipJsonSchema[None] = absent()
    sentiment: dict[str, Any] | SkipJsonSchema[None] = absent()
    safety: dict[str, Any] | SkipJsonSchema[None] = absent()
    media: dict[str, Any] | SkipJsonSchema[None] = absent()
    location: dict[str, Any] | SkipJsonSchema[None] = absent()


class _MessageViewBase(_Body):
    message_id: str = Field(validation_alias="_id")
    conversation_id: str
    channel: str = Field(description="`api`, `web`, or a provider channel")
    user_id: str
    text: str
    status: Status
    created_at: Timestamp
    journey: dict[str, Timestamp] = Field(
        default_factory=dict,
        description="when the message reached each stage, keyed by status or stage name",
    )
    failure: MessageFailure | SkipJsonSchema[None] = absent("only when `status` is `failed`")

    @field_validator("failure")
    @classmethod
    def _only_when_failed(
        cls, failure: MessageFailure | None, info: ValidationInfo
    ) -> MessageFailure | None:
        # A replayed turn keeps the failure it had; it is shown only while it stands.
        return failure if info.data.get("status") == Status.FAILED else None


class InboundMessageView(_MessageViewBase):
    """A message a user sent."""

    direction: Literal["inbound"]
    metadata: dict[str, Any] = Field(default_factory=dict)
    processing: ProcessingView | SkipJsonSchema[None] = absent("once the process stage ran")
    reply_id: str | SkipJsonSchema[None] = absent(
        "the bot's reply that answered it; messages sent together share one (docs/bursts.md)"
    )


class OutboundMessageView(_MessageViewBase):
    """A reply the bot sent."""

    direction: Literal["outbound"]
    parts: list[dict[str, Any]] = Field(
        default_factory=list,
        description="the engine's reply parts, each tagged by `type`: text, quick_replies, "
        "media, card, buttons, list, location, file or template (channels/content.py); "
        "`text` is their plain-text rendering",
    )
    in_reply_to: str | None = None
    answers: list[str] = Field(
        default_factory=list,
        description="the user's messages this reply answered, oldest first: more than one when "
        "they arrived together (docs/bursts.md); empty for a reply stored before bursts",
    )


class MessageView(
    RootModel[Annotated[InboundMessageView | OutboundMessageView, Field(discriminator="direction")]]
):
    """A message as `GET /v1/messages/{message_id}` shows it: status and journey."""


class ConversationView(_Body):
    """A conversation: who, on which channel, open or closed and why."""

    id: str = Field(validation_alias="_id")
    channel: str
    user_id: str
    state: str = Field(json_schema_extra={"enum": [*CONVERSATION_STATES]})
    channel_config_id: str | None = Field(
        description="the provider account it is held on; null for the API channel"
    )
    created_at: Timestamp
    last_message_at: Timestamp
    last_message_id: str | SkipJsonSchema[None] = absent()
    closed_at: Timestamp | SkipJsonSchema[None] = absent()
    close_reason: str | SkipJsonSchema[None] = Field(
        default=None,
        description="`closed` by `POST /v1/conversations/{id}/close`, `idle` by the "
        "inactivity timeout",
        exclude_if=_is_none,
        json_schema_extra={"enum": [*CLOSE_REASONS]},
    )


class ConversationPage(_Body):
    data: list[ConversationView] = Field(description="in id order")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class ConversationMessagesPage(_Body):
    conversation_id: str
    data: list[MessageView] = Field(description="oldest first")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class Installation(_Body):
    """The provider's last word on the bot's installation (Teams: conversationUpdate naming the
    bot, installationUpdate), wherever it came from."""

    state: Literal["installed", "uninstalled"]
    at: Timestamp
    conversation_id: str | None
    conversation_type: str | None = Field(description="personal, groupChat or channel")
    team_id: str | None
    source: str | None = Field(description="the activity that told it")


class ProfileOutcome(_Body):
    """Whether the page took the saved `messenger_profile`."""

    state: Literal["applied", "failed"]
    at: Timestamp
    error: str | SkipJsonSchema[None] = absent("why Graph refused it, or could not be asked")


class ChannelConfigView(_Body):
    """A channel config as the API shows it: never a secret, only which ones are set."""

    id: str = Field(validation_alias="_id")
    channel: str
    account_id: str
    options: dict[str, str] = Field(default_factory=dict)
    secrets_set: list[str] = Field(default_factory=list, validation_alias="secret_names")
    state: str
    messenger_profile: dict[str, Any] | SkipJsonSchema[None] = absent(
        "Messenger: the page's Get Started, greeting and persistent menu, as saved"
    )
    profile: ProfileOutcome | SkipJsonSchema[None] = absent(
        "Messenger: how applying `messenger_profile` to the page went"
    )
    installation: Installation | SkipJsonSchema[None] = absent(
        "Teams: whether the bot is installed, as Teams last told"
    )
    webhook_url: str = Field(description="where to point the provider's webhook")
    created_at: Timestamp

    @classmethod
    def of(cls, doc: Any, base_url: str) -> ChannelConfigView:
        url = f"{base_url.rstrip('/')}/webhooks/{doc['channel']}/{doc['_id']}"
        return cls.model_validate({**doc, "webhook_url": url})


class ChannelConfigList(_Body):
    data: list[ChannelConfigView]


class TemplateView(_Body):
    """A WhatsApp message template as last synced (``parley templates sync``)."""

    channel_config_id: str
    name: str
    language: str
    category: str
    status: str = Field(description="Meta's: APPROVED, PENDING, REJECTED, PAUSED, DISABLED")
    parameters: dict[str, int] = Field(
        description="how many parameters a send gives each component: `header`, `body`, "
        "`button:<index>`"
    )
    synced_at: datetime


class TemplateList(_Body):
    data: list[TemplateView]


class DeadLetterError(_Body):
    type: str
    message: str
    classification: str = Field(json_schema_extra={"enum": [*CLASSIFICATIONS]})


class DeadLetterView(_Body):
    """A turn that failed for good at one stage."""

    id: str = Field(validation_alias="_id")
    message_id: str
    conversation_id: str
    channel: str
    stage: str = Field(json_schema_extra={"enum": [*STAGES]})
    attempts: int
    last_error: DeadLetterError
    first_attempt_at: Timestamp
    last_attempt_at: Timestamp
    state: str = Field(json_schema_extra={"enum": [*STATES]})
    replays: int = 0


class DeadLetterPage(_Body):
    data: list[DeadLetterView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class ReplayAccepted(_Body):
    id: str = Field(validation_alias="_id")
    message_id: str
    stage: str = Field(json_schema_extra={"enum": [*STAGES]})
    state: Literal["replayed"]

    @classmethod
    def of(cls, dead_letter: Any) -> ReplayAccepted:
        return cls.model_validate({**dead_letter, "state": REPLAYED})


class WebhookAck(_Body):
    status: Literal["ok"]


class UrlVerificationAnswer(_Body):
    """Slack's `url_verification`: the challenge echoed back."""

    challenge: str


class InvokeAnswer(_Body):
    """Teams' invoke response to a card's `Action.Execute` (`statusCode` 200, `type`
    `application/vnd.microsoft.card.adaptive`, `value` the refreshed card), or its error
    (`application/vnd.microsoft.error`)."""

    statusCode: int  # the Bot Framework's name
    type: str
    value: dict[str, Any]


class WebhookAnswer(RootModel[WebhookAck | UrlVerificationAnswer | InvokeAnswer]):
    """What a provider gets back for a verified webhook."""


class Live(_Body):
    status: Literal["live"]


class Ready(_Body):
    status: Literal["ready", "degraded"] = Field(
        description="`degraded` when Kafka or the engine is down: work is still accepted"
    )
    checks: dict[str, str] = Field(description="`up`, or `down: <error type>`, per dependency")
    degraded: list[str] = Field(description="the optional dependencies (kafka, engine) down")


class RateLimits(_Body):
    per_second: float | SkipJsonSchema[None] = absent()
    burst: int | SkipJsonSchema[None] = absent()
    credential_per_second: float | SkipJsonSchema[None] = absent()
    credential_burst: int | SkipJsonSchema[None] = absent()


class Quotas(_Body):
    messages_per_day: int | SkipJsonSchema[None] = absent()


class EngineSettings(_Body):
    backend: Literal["rules", "openai"] | SkipJsonSchema[None] = absent()
    model: str | SkipJsonSchema[None] = absent()
    temperature: float | SkipJsonSchema[None] = absent()
    system_prompt: str | SkipJsonSchema[None] = absent()


class Bursts(_Body):
    window_ms: int | SkipJsonSchema[None] = absent()
    max_messages: int | SkipJsonSchema[None] = absent()


class TenantView(_Body):
    """A tenant as the admin API shows it; a settings group left out means the defaults."""

    id: str = Field(validation_alias="_id")
    name: str
    state: Literal["active", "disabled"]
    rate_limits: RateLimits | SkipJsonSchema[None] = absent()
    quotas: Quotas | SkipJsonSchema[None] = absent()
    engine: EngineSettings | SkipJsonSchema[None] = absent()
    bursts: Bursts | SkipJsonSchema[None] = absent()  # docs/bursts.md
    processing: dict[str, Any] | SkipJsonSchema[None] = absent()  # docs/processing.md
    retention_days: int | SkipJsonSchema[None] = absent()
    conversation_idle_minutes: int | SkipJsonSchema[None] = absent()
    created_at: Timestamp
    updated_at: Timestamp | SkipJsonSchema[None] = absent()


class TenantPage(_Body):
    data: list[TenantView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class ApiKeyView(_Body):
    """An API key as the admin API shows it: never its secret."""

    id: str = Field(validation_alias="_id")
    tenant_id: str
    name: str
    scopes: list[str]
    state: Literal["active", "revoked"]
    created_at: Timestamp
    revoked_at: Timestamp | SkipJsonSchema[None] = absent()
    rotated_from: str | SkipJsonSchema[None] = absent("the key this one replaced")
    replaced_by: str | SkipJsonSchema[None] = absent("the key that replaced this one")


class IssuedApiKey(ApiKeyView):
    key: str = Field(description="`pk_<id>_<secret>`: shown in this answer only, never again")

    @classmethod
    def of(cls, doc: Any, plaintext: str) -> IssuedApiKey:
        return cls.model_validate({**doc, "key": plaintext})


class ApiKeyList(_Body):
    data: list[ApiKeyView]


class WidgetTheme(_Body):
    title: str
    primary_color: str = Field(description="`#rrggbb`")
    avatar_url: str | SkipJsonSchema[None] = absent()
    locale: Literal["en", "de"]


class WidgetUpload(_Body):
    max_bytes: int = Field(description="the largest file a visitor may upload")
    types: list[str] = Field(description="the content types a visitor may upload")


class PublicWidget(_Body):
    """What a browser learns of a widget: nothing secret."""

    id: str = Field(validation_alias="_id")
    theme: WidgetTheme
    greeting: str
    upload: WidgetUpload


class WidgetView(PublicWidget):
    """A widget config as the admin API shows it: never its identity secret."""

    name: str
    enabled: bool
    allowed_origins: list[str]
    identity_verification: bool = Field(description="whether an identity secret is set")
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, doc: Any) -> WidgetView:
        return cls.model_validate({**doc, "identity_verification": identity_verification(doc)})


class WidgetPage(_Body):
    data: list[WidgetView] = Field(description="in id order")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class VisitorSession(_Body):
    """`POST /v1/widget/{widget_id}/sessions`: the visitor token and the widget to draw."""

    token: str = Field(description="the visitor token: `Authorization: Bearer` on visitor routes")
    expires_at: int = Field(description="epoch seconds; post the same body again to renew")
    visitor_id: str = Field(description="`v_…` for an anonymous visitor, `user:<id>` else")
    visitor_key: str | SkipJsonSchema[None] = absent(
        "anonymous visitors only: send it back with `visitor_id` to be this visitor again"
    )
    widget: PublicWidget


class VisitorAttachment(_Body):
    upload_id: str
    content_type: str
    filename: str
    size: int


class VisitorMessage(_Body):
    """A message as the widget shows it (the `message` event's `message`)."""

    id: str
    conversation_id: str
    direction: Literal["inbound", "outbound"]
    text: str
    parts: list[dict[str, Any]]
    attachments: list[VisitorAttachment]
    client_message_id: str | None
    status: str
    created_at: str = Field(json_schema_extra={"format": "date-time"})


class VisitorConversation(_Body):
    id: str
    status: str = Field(json_schema_extra={"enum": [*CONVERSATION_STATES]})


class VisitorHistory(_Body):
    conversation: VisitorConversation | None
    messages: list[VisitorMessage] = Field(description="oldest first, at most 100")
    last_event_id: str = Field(description="the newest stream event's id; resume the socket here")


class UploadView(_Body):
    upload_id: str
    content_type: str
    size: int
    filename: str
    url: str = Field(description="where the visitor fetches it again (with its token)")


class ErasureReceipt(_Body):
    """The proof of one erasure; it never names the user (``subject`` is a keyed digest)."""

    id: str = Field(validation_alias="_id")
    subject: str = Field(description="a keyed digest of the tenant and the user id")
    requested_by: dict[str, str] = Field(description="`subject` and `credential_id` of the caller")
    conversations: list[str] = Field(description="the ids of the conversations erased")
    erased: dict[str, int] = Field(
        description="what each store gave up: `messages`, `conversations`, `audit`, "
        "`dead_letters`, `uploads`, `blobs`, `redis_keys`"
    )
    tombstones: dict[str, int] = Field(
        description="`expected` (chat topics times conversations) and `acknowledged` by Kafka"
    )
    created_at: Timestamp


class ErasureReceiptList(_Body):
    data: list[ErasureReceipt]


class ExportedFile(_Body):
    blob_id: str
    filename: str
    mime_type: str
    size: int
    data_base64: str


class UserExport(_Body):
    """Everything Parley keeps of one end user, as stored (its outbox machinery left out)."""

    user_id: str
    conversations: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    files: list[ExportedFile]
    uploads: list[dict[str, Any]]


class WebhookSubscriptionView(_Body):
    """An outbound webhook subscription as the API shows it: never its secret."""

    id: str = Field(validation_alias="_id")
    url: str
    events: list[str] = Field(description="event type patterns; `*` stands for one segment")
    description: str | None = absent()
    status: str = Field(json_schema_extra={"enum": [*SUBSCRIPTION_STATUSES]})
    disabled_reason: str | None = absent("only when `status` is `disabled`")
    disabled_at: Timestamp | None = absent("only when `status` is `disabled`")
    previous_secret_expires_at: Timestamp | None = absent(
        "after a rotation: until then deliveries carry the previous secret's signature too"
    )
    created_at: Timestamp

    @classmethod
    def of(cls, doc: Any, **extra: Any) -> Any:
        return cls.model_validate(
            {**doc, "previous_secret_expires_at": doc.get("previous_expires_at"), **extra}
        )


class WebhookSubscriptionWithSecret(WebhookSubscriptionView):
    secret: str = Field(description="`whsec_…`: shown only in this answer; store it now")

    @classmethod
    def with_secret(cls, doc: Any, secret: str) -> WebhookSubscriptionWithSecret:
        created: WebhookSubscriptionWithSecret = cls.of(doc, secret=secret)
        return created


class WebhookSubscriptionList(_Body):
    data: list[WebhookSubscriptionView]


class WebhookAttemptView(_Body):
    number: int
    at: Timestamp
    response_status: int | None = Field(description="null when no answer came")
    error: str | None


class WebhookDeliveryView(_Body):
    """One event's delivery to one subscription, with every attempt."""

    id: str = Field(validation_alias="_id", description="the `webhook-id` header it is sent with")
    event_id: str
    event_type: str
    conversation_id: str | None
    status: str = Field(json_schema_extra={"enum": [*DELIVERY_STATUSES]})
    attempts: list[WebhookAttemptView]
    next_attempt_at: Timestamp | None = absent("only while `status` is `pending` or `failed`")
    dead_reason: str | None = absent("only when it died without a last attempt")
    replays: int = 0
    created_at: Timestamp

    @classmethod
    def of(cls, doc: Any) -> WebhookDeliveryView:
        waiting = doc.get("status") in DELIVERY_OPEN_STATUSES
        return cls.model_validate(
            {**doc, "next_attempt_at": doc.get("next_attempt_at") if waiting else None}
        )


class WebhookDeliveryPage(_Body):
    data: list[WebhookDeliveryView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class _Rule(BaseModel):
    """A part of a notification rule: read strictly, unknown fields refused, and shown as given."""

    model_config = ConfigDict(extra="forbid", strict=True)


# A ten-minute window unless the rule says otherwise, a day at most (the counts live in Redis).
Window = Annotated[int, Field(ge=10, le=86400, description="seconds, counted back from now")]


class DeadLettersAbove(_Rule):
    """More than `count` messages dead-lettered within the window (`system.error`,
    kind `dead_letter`)."""

    kind: Literal["dead_letters_above"]
    count: int = Field(ge=0, le=1_000_000)
    window_seconds: Window = 600


class DeliveryRateBelow(_Rule):
    """Of the replies sent within the window, fewer than `percent` % delivered, once at least
    `min_sent` were sent (`chat.message.sent` and `chat.message.delivered`)."""

    kind: Literal["delivery_rate_below"]
    percent: float = Field(gt=0, le=100)
    window_seconds: Window = 600
    min_sent: int = Field(default=20, ge=1, le=1_000_000)


class CredentialsRefused(_Rule):
    """A provider answered 401 or 403 to Parley's credentials (`integration.api.called`), on
    `channel` or on any channel."""

    kind: Literal["credentials_refused"]
    channel: str | None = Field(
        default=None, json_schema_extra={"enum": [*sorted(WEBHOOK_ADAPTERS), None]}
    )

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, channel: str | None) -> str | None:
        if channel is not None and channel not in WEBHOOK_ADAPTERS:
            raise ValueError(f"channel must be one of {', '.join(sorted(WEBHOOK_ADAPTERS))}")
        return channel


class EndpointDisabled(_Rule):
    """One of the tenant's webhook endpoints was disabled for failing (`system.error`, kind
    `endpoint_disabled`)."""

    kind: Literal["endpoint_disabled"]


NotificationCondition = Annotated[
    DeadLettersAbove | DeliveryRateBelow | CredentialsRefused | EndpointDisabled,
    Field(discriminator="kind"),
]
# No CR, LF, spaces, angle brackets or commas: one address, never a second header or recipient.
EMAIL_PATTERN = r"^[^@\s<>,;:\"()\[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$"


class EmailTarget(_Rule):
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)


class SlackTarget(_Rule):
    slack_webhook_url: str = Field(
        min_length=1,
        max_length=2048,
        description="a Slack incoming-webhook URL: https, on a host whose addresses are public",
    )


class SmsTarget(_Rule):
    sms: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, e.g. `+15551234567`")


NotificationTarget = EmailTarget | SlackTarget | SmsTarget


class NotificationRuleIn(_Rule):
    condition: NotificationCondition
    notify: list[NotificationTarget] = Field(min_length=1, max_length=10)
    quiet_seconds: int = Field(default=DEFAULT_QUIET_SECONDS, ge=1, le=30 * 86400)


class NotificationRuleView(_Body):
    """A rule as stored; a Slack URL (its path is the webhook's secret) shows only its host."""

    id: str = Field(validation_alias="_id")
    condition: NotificationCondition
    notify: list[NotificationTarget]
    quiet_seconds: int
    created_at: Timestamp

    @classmethod
    def of(cls, doc: Any) -> NotificationRuleView:
        notify = [{SLACK: masked_url(t[SLACK])} if SLACK in t else t for t in doc.get("notify", [])]
        return cls.model_validate({**doc, "notify": notify})


class NotificationRuleList(_Body):
    data: list[NotificationRuleView]


class NotificationTargetView(_Body):
    target: str = Field(description="`email:…`, `slack:<host>` or `sms:…`")
    outcome: str = Field(json_schema_extra={"enum": [*TARGET_OUTCOMES]})
    error: str | None = absent("why it was not sent")
    at: Timestamp | None = absent("when it was sent, skipped or last failed")


class NotificationView(_Body):
    """One alert: an incident of a rule, and what became of each of its targets."""

    id: str = Field(validation_alias="log_id")
    rule_id: str
    condition: str = Field(description="the rule's condition kind")
    subject: str | None = Field(description="what the incident is about (a channel, an endpoint)")
    summary: str
    outcome: str = Field(json_schema_extra={"enum": [*NOTIFICATION_OUTCOMES]})
    targets: list[NotificationTargetView]
    created_at: Timestamp


class NotificationPage(_Body):
    data: list[NotificationView]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


def json_of(model: BaseModel) -> Any:
    """The JSON a response model stands for."""
    return model.model_dump(mode="json")


def created(model: BaseModel, location: str) -> JSONResponse:
    """A 201 answer with the new resource and where it lives."""
    return JSONResponse(json_of(model), status_code=201, headers={"Location": location})


class AuditActor(_Body):
    kind: str = Field(
        description="`api_key`, `token`, `operator`; for `auth.failed` the credential's kind "
        "(`api_key`, `token`, `visitor_token`, `none`)"
    )
    id: str | None = Field(
        default=None, description="the key id or the token's subject; never the secret"
    )


class AuditTarget(_Body):
    type: str
    id: str | None


class AuditEntryView(_Body):
    """One entry of the admin audit trail (docs/audit.md)."""

    id: str = Field(validation_alias="_id")
    at: Timestamp
    tenant_id: str = Field(description="`*` for the platform's own")
    actor: AuditActor
    action: str = Field(description="e.g. `api_key.created`, `auth.failed`")
    target: AuditTarget | None = None  # FerretDB stores no null an upsert inserts
    outcome: str = Field(json_schema_extra={"enum": ["succeeded", "failed", "denied"]})
    client_ip: str
    count: int = Field(description="1, or the failed authentications counted into this entry")
    detail: dict[str, Any] = Field(description="what else the action said; never a secret")


class AuditPage(_Body):
    data: list[AuditEntryView] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class ComplianceReport(_Body):
    """One tenant's compliance figures for a period (docs/audit.md defines each)."""

    tenant_id: str
    period_start: Timestamp = Field(description="`from`, included")
    period_end: Timestamp = Field(description="`to`, excluded")
    generated_at: Timestamp
    metrics: dict[str, int]


class AnalyticsFigures(_Body):
    """A tenant's figures over a range or one bucket (docs/analytics.md defines each)."""

    messages_in: int = Field(description="inbound messages received")
    messages_out: int = Field(description="replies sent")
    conversations_started: int
    conversations_ended: int
    delivered: int = Field(description="replies the channel reported delivered")
    read: int = Field(description="replies the channel reported read")
    delivery_rate: float | None = Field(description="delivered / messages_out; null if none sent")
    read_rate: float | None = Field(description="read / messages_out; null if none sent")
    response_count: int = Field(description="replies whose response time is known")
    response_p50_ms: int | None = Field(
        description="median response time (sent - inbound received), nearest rank"
    )
    response_p95_ms: int | None
    first_response_count: int = Field(description="conversations started here and answered")
    first_response_p50_ms: int | None = Field(
        description="median time from a conversation's start to its first reply sent"
    )
    first_response_p95_ms: int | None
    engine_count: int
    engine_p50_ms: int | None = Field(
        description="median generate-stage time (reply stored - inbound processed)"
    )
    engine_p95_ms: int | None
    failures: dict[str, int] = Field(description="`chat.message.failed` by `reason`")
    dead_letters: dict[str, int] = Field(description="`system.error` dead letters by `reason`")
    languages: dict[str, int] = Field(description="inbound messages by language (`unknown`)")
    sentiments: dict[str, int] = Field(description="inbound messages by sentiment (`unknown`)")


class AnalyticsSummary(_Body):
    start: Timestamp = Field(description="`from`: inclusive")
    end: Timestamp = Field(description="`to`: exclusive")
    channel: str | None = Field(description="the channel asked for; null for all")
    figures: AnalyticsFigures


class AnalyticsBucket(_Body):
    start: Timestamp = Field(description="the bucket's start (UTC, cut to its interval)")
    figures: dict[str, Any] = Field(
        description="the `metric` asked for, or every figure of `AnalyticsFigures`"
    )


class AnalyticsTimeseries(_Body):
    start: Timestamp = Field(description="`from`: inclusive")
    end: Timestamp = Field(description="`to`: exclusive")
    channel: str | None = Field(description="the channel asked for; null for all")
    interval: Literal["minute", "hour", "day"]
    metrics: list[str] = Field(description="the figures each bucket holds")
    buckets: list[AnalyticsBucket] = Field(description="every bucket the range touches, in order")
