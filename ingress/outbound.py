"""``POST /v1/outbound``: a message the tenant starts, to a user on a provider channel
(docs/outbound.md).

The message is checked against the provider's rules before anything is stored, then stored as
an outbound message that is its own reply (``proactive: true``) and queued from the deliver
stage: the same sends, retries, dead letters, status callbacks and audit as a bot's reply.

- WhatsApp: outside the 24-hour customer service window (the user last wrote more than 24 h
  ago, or never), only an approved template may be sent; a template is checked against the
  account's synced templates (docs/templates.md) when the channel names its business account.
- Messenger: outside the 24-hour standard messaging window a message tag is required
  (``messaging_type: MESSAGE_TAG``); inside it the message goes as ``UPDATE``. Messenger has no
  templates.
- Slack, Teams, the web widget and the API channel: not built yet (422 ``unsupported-channel``);
  docs/outbound.md says what each needs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from channels.content import degrade_to_text
from core import scopes
from core.errors import TransientError
from core.ids import new_id
from core.states import Status
from core.timeutil import as_utc, isoformat, utcnow
from ingress.accept import IdempotencyKeyReused, body_digest
from ingress.auth import Principal, principal_of
from ingress.body import parse_json, read_limited, validate
from ingress.messages import idempotency_key
from ingress.operations import (
    INVALID,
    MALFORMED,
    TOO_LARGE,
    UNAVAILABLE,
    Answer,
    Operation,
    Param,
    documented,
)
from ingress.problems import Problem
from ingress.routing import ApiRoute
from ingress.schemas import Accepted
from ingress.state import IngressState
from storage.documents import MessageDocument
from tasks.chain import chain_from

# Both providers' window for messages a business starts: 24 hours since the user last wrote.
WINDOW = timedelta(hours=24)
SUPPORTED = ("whatsapp", "messenger")
# The message tags Meta still accepts outside the window (Messenger Platform, "Message Tags").
MessengerTag = Literal[
    "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "HUMAN_AGENT"
]
MESSENGER_TAGS: tuple[str, ...] = get_args(MessengerTag)
DEDUPE_PREFIX = "outbound:"


class TemplateIn(BaseModel):
    """A WhatsApp message template, spelled as WhatsApp's template message spells it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=15, description="e.g. `en_US`")
    components: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=12,
        description="`header`, `body` and `button` components with their `parameters`",
    )


class OutboundIn(BaseModel):
    """``POST /v1/outbound``: exactly one of ``text`` and ``template``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    channel_config_id: str = Field(min_length=1, max_length=128)
    to: str = Field(
        min_length=1,
        max_length=256,
        description="the user as the provider names them: WhatsApp's `wa_id`, Messenger's PSID",
    )
    text: str | None = Field(default=None, min_length=1, max_length=4096)
    template: TemplateIn | None = None
    tag: MessengerTag | None = Field(
        default=None, description="Messenger's message tag, for a message outside its window"
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("text must not be blank")
        return value

    @model_validator(mode="after")
    def _one_content(self) -> OutboundIn:
        if (self.text is None) == (self.template is None):
            raise ValueError("give exactly one of text and template")
        return self

    def part(self) -> dict[str, Any]:
        if self.template is not None:
            return {"type": "template", **self.template.model_dump()}
        return {"type": "text", "text": self.text}


def _refuse(kind: str, title: str, detail: str) -> Problem:
    return Problem(422, kind, title, detail)


def _last_heard(
    state: IngressState, tenant_id: str, channel: str, config_id: str, to: str
) -> datetime | None:
    """When the user last wrote on this account: its conversation's ``last_inbound_at``, or,
    until a turn of it was generated, its creation by the user's first message (a conversation
    a proactive message opened has heard nothing yet)."""
    conversation = state.conversations.latest(tenant_id, channel, to, scope=config_id)
    if conversation is None:
        return None
    heard = conversation.get("last_inbound_at")
    if heard is None and not conversation["started_by"].startswith("out_"):
        heard = conversation["created_at"]
    return as_utc(heard) if heard is not None else None


def _check_rules(payload: OutboundIn, channel: str, heard: datetime | None) -> dict[str, Any]:
    """The provider's rules, before any record: 422 for what the provider would refuse.
    Returns how the channel is to send it (the message's ``reply_to``)."""
    inside = heard is not None and utcnow() - heard < WINDOW
    last = f"last wrote at {isoformat(heard)}" if heard else "has never written on this account"
    if channel not in SUPPORTED:
        raise _refuse(
            "unsupported-channel",
            "Channel not supported",
            f"proactive messages are sent on {' and '.join(SUPPORTED)}; not yet on {channel}",
        )
    if channel == "whatsapp":
        if payload.tag is not None:
            raise _refuse("invalid", "Invalid request", "tag is Messenger's; WhatsApp has none")
        if payload.template is None and not inside:
            raise _refuse(
                "outside-customer-service-window",
                "Outside the 24-hour window",
                f"the user {last}: outside WhatsApp's 24-hour customer service window only an "
                "approved template may be sent",
            )
        return {}
    if payload.template is not None:
        raise _refuse("invalid", "Invalid request", "templates are WhatsApp's; send text")
    if inside and payload.tag is None:
        return {"messaging_type": "UPDATE"}
    if payload.tag is None:
        raise _refuse(
            "outside-standard-messaging-window",
            "Outside the 24-hour window",
            f"the user {last}: outside Messenger's 24-hour standard messaging window a message "
            f"tag is required ({', '.join(MESSENGER_TAGS)})",
        )
    return {"messaging_type": "MESSAGE_TAG", "tag": payload.tag}


def send_outbound(
    state: IngressState,
    principal: Principal,
    payload: OutboundIn,
    key: str | None,
    digest: str,
) -> tuple[Accepted, bool]:
    """Check, store and queue one proactive message; the answer and whether it is new."""
    tenant_id = principal.tenant_id
    dedupe_key = f"{DEDUPE_PREFIX}{key}" if key else None
    if dedupe_key is not None:
        first = state.messages.by_dedupe_key(tenant_id, dedupe_key)
        if first is not None:
            return _replayed(first, digest)
    config = state.channel_configs.for_delivery(tenant_id, payload.channel_config_id)
    heard = _last_heard(state, tenant_id, config.channel, config.id, payload.to)
    reply_to = _check_rules(payload, config.channel, heard)
    part = payload.part()
    refusal = state.templates.refusal(config, [part])
    if refusal is not None:
        raise _refuse("template-refused", "Template refused", refusal)
    message_id = new_id("out")
    conversation_id = state.conversations.resolve_open(
        tenant_id, config.channel, payload.to, started_by=message_id, scope=config.id
    )
    now = utcnow()
    doc: MessageDocument = {
        "_id": message_id,
        "tenant_id": tenant_id,
        "conversation_id": conversation_id,
        "channel": config.channel,
        "direction": "outbound",
        "proactive": True,
        "user_id": payload.to,
        "channel_config_id": config.id,
        "dedupe_key": dedupe_key or f"{DEDUPE_PREFIX}{message_id}",
        "text": degrade_to_text([part]),
        "parts": [part],
        "reply_to": reply_to,
        "submitted_by": principal.subject,
        "request_digest": digest,
        "status": Status.GENERATED.value,
        "journey": {Status.GENERATED.value: now},
        "created_at": now,
        "updated_at": now,
    }
    if key:
        doc["idempotency_key"] = key
    stored, created = state.messages.insert_once(doc)
    if not created:  # a concurrent request with the same key won
        return _replayed(stored, digest)
    try:
        chain_from("deliver", tenant_id, message_id).apply_async()
    except Exception as exc:
        state.messages.delete_unqueued_proactive(tenant_id, message_id)
        raise TransientError("the message could not be queued; retry later") from exc
    return _answer(stored), True


def _replayed(first: MessageDocument, digest: str) -> tuple[Accepted, bool]:
    if first.get("request_digest") != digest:
        raise IdempotencyKeyReused("this Idempotency-Key was used with a different request body")
    return _answer(first), False


def _answer(stored: MessageDocument) -> Accepted:
    return Accepted(
        message_id=stored["_id"],
        conversation_id=stored["conversation_id"],
        status=Status.GENERATED.value,
    )


@documented(
    Operation(
        "postOutbound",
        "Send a message the tenant starts (a proactive message)",
        "messages",
        (
            Answer(
                202,
                "Accepted: checked against the provider's rules, stored and queued for its "
                "deliver stage, or the first answer to this `Idempotency-Key`.",
                Accepted,
                headers={
                    "Location": "`/v1/messages/{message_id}`",
                    "Idempotent-Replayed": "`true` when this repeats an earlier request's answer",
                },
            ),
        ),
        {
            400: MALFORMED + " `invalid-idempotency-key`: not 1 to 255 printable characters.",
            404: "`not-found`: `channel_config_id` names none of the tenant's channels.",
            413: TOO_LARGE,
            422: INVALID
            + " `outside-customer-service-window`: WhatsApp, the user last wrote more than 24 h"
            " ago and the message is not a template. `outside-standard-messaging-window`:"
            " Messenger, the same, without a `tag`. `template-refused`: the template is not one"
            " of the account's approved templates, or its parameters do not match."
            " `unsupported-channel`: not a WhatsApp or Messenger channel."
            " `idempotency-key-reused`: the key came with another body.",
            503: UNAVAILABLE,
        },
        params=(
            Param(
                "Idempotency-Key",
                "header",
                "A retry with the same key and body gets the first answer and sends nothing "
                "more; the same key with another body is refused (422).",
            ),
        ),
        body=OutboundIn,
    )
)
async def post_outbound(request: Request) -> JSONResponse:
    state: IngressState = request.state.parley
    principal = principal_of(request)
    key = idempotency_key(request)
    raw = await read_limited(request, state.settings.max_body_bytes)
    payload = validate(OutboundIn, parse_json(raw, state.settings.max_json_depth))
    try:
        answer, created = await run_in_threadpool(
            send_outbound, state, principal, payload, key, body_digest(raw)
        )
    except IdempotencyKeyReused as exc:
        raise Problem(422, "idempotency-key-reused", "Idempotency-Key reused", str(exc)) from None
    headers = {"Location": f"/v1/messages/{answer.message_id}"}
    if key is not None and not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(answer.model_dump(), status_code=202, headers=headers)


routes = [
    ApiRoute("/v1/outbound", post_outbound, methods=["POST"], scope=scopes.MESSAGES_WRITE),
]
