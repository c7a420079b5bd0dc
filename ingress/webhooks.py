"""Provider webhooks: ``GET|POST /webhooks/{channel}/{channel_config_id}``.

The handler only verifies, parses, dedupes, persists and enqueues, so it answers well inside
Slack's 3 s and Meta's deadlines. Any verification failure is a 401 that leaves nothing behind;
an unknown config is a 404. The tenant is the one that owns the config the URL names. A GET
handshake echoes its challenge only when the verify token matches and the challenge is a short
token; failed handshakes are limited per config.
"""

from __future__ import annotations

import logging
import re

from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from channels.base import UnknownChannel, VerificationFailed, WebhookAdapter
from channels.registry import SPECS, spec_for, webhook_adapter_for
from core.envelopes import (
    ChannelConfig,
    ChannelEvent,
    ChannelEventKind,
    DeliveryState,
    StatusUpdate,
    Webhook,
)
from core.errors import NotFound, TransientError
from core.states import Status
from core.system_events import channel_lifecycle, webhook_received
from ingress import rate_limit
from ingress.accept import accept_inbound
from ingress.api_models import WebhookAnswer, json_of
from ingress.body import read_limited
from ingress.operations import UNAVAILABLE, Answer, Operation, Param, documented
from ingress.problems import Problem
from ingress.state import IngressState

log = logging.getLogger("parley.ingress.webhooks")
# What a handshake may echo: Meta's challenge is a number; nothing that could be markup.
CHALLENGE = re.compile(r"[A-Za-z0-9_-]{1,128}")

WEBHOOK_PATH = (
    Param("channel", "path", "The provider.", {"enum": sorted(SPECS)}),
    Param("config_id", "path", "The channel config's `id`: it names the tenant's account."),
)
NO_WEBHOOK = "`not-found`: no active config of this channel with this id."
WEBHOOK_SECURITY = (
    "Not bearer-authenticated: every request is verified by the provider's signature over the "
    "raw body: Meta's `X-Hub-Signature-256` (HMAC-SHA256 with the app secret), Slack's "
    "`X-Slack-Signature` over `v0:<timestamp>:<body>` within 5 minutes of "
    "`X-Slack-Request-Timestamp`, and for Teams a Bot Framework JWT in `Authorization`. "
    "Anything unverified is answered 401 and leaves nothing behind."
)

INSTALLATION_KINDS = frozenset({ChannelEventKind.INSTALLED, ChannelEventKind.UNINSTALLED})
STATUS_FOR = {
    DeliveryState.SENT: Status.SENT,
    DeliveryState.DELIVERED: Status.DELIVERED,
    DeliveryState.READ: Status.READ,
    DeliveryState.FAILED: Status.FAILED,
}


def _unauthorized(channel: str, reason: str) -> Problem:
    # The reason is logged, not returned: it would teach a forger what to fix.
    log.warning("rejected %s webhook: %s", channel, reason)
    return Problem(401, "unauthorized", "Unauthorized", "the webhook could not be verified")


async def _resolve(request: Request) -> tuple[IngressState, WebhookAdapter, ChannelConfig]:
    state: IngressState = request.state.parley
    channel = request.path_params["channel"]
    try:
        spec_for(channel)
        adapter = webhook_adapter_for(channel)
        config, active = await run_in_threadpool(
            _config_and_state, state, channel, request.path_params["config_id"]
        )
    except (UnknownChannel, NotFound):
        raise Problem(404, "not-found", "Not found", "no such webhook") from None
    if not active:  # a disabled tenant's webhooks answer as if the config did not exist
        log.info("refused %s webhook for a disabled tenant", channel)
        raise Problem(404, "not-found", "Not found", "no such webhook")
    return state, adapter, config


def _config_and_state(
    state: IngressState, channel: str, config_id: str
) -> tuple[ChannelConfig, bool]:
    """The config the URL names, and whether its tenant is active (one trip to the pool)."""
    config = state.webhook_configs.get_or_load(
        (channel, config_id), lambda: state.channel_configs.for_webhook(channel, config_id)
    )
    return config, state.tenants.status(config.tenant_id).active


@documented(
    Operation(
        "webhookHandshake",
        "A provider's subscription handshake (Meta: WhatsApp, Messenger)",
        "webhooks",
        (
            Answer(
                200,
                "The `hub.challenge`, echoed.",
                schema={"type": "string"},
                media_type="text/plain",
                headers={"X-Content-Type-Options": "`nosniff`"},
            ),
        ),
        {
            400: "`invalid-challenge`: the token matches but `hub.challenge` is not 1 to 128 "
            "letters, digits, `-` or `_`; nothing is echoed.",
            401: "`unauthorized`: not a subscribe handshake, the verify token does not match, "
            "or the channel has no GET handshake (Slack, Teams).",
            404: NO_WEBHOOK,
            429: "`rate-limited`: too many failed handshakes for this config "
            "(`PARLEY_HANDSHAKE_FAILURE_BURST`); until `Retry-After`, the right token too.",
            503: "`unavailable`: handshakes cannot be limited now (Redis is down).",
        },
        params=(
            *WEBHOOK_PATH,
            Param("hub.mode", "query", "`subscribe`.", {"enum": ["subscribe"]}),
            Param("hub.verify_token", "query", "The config's `verify_token` secret."),
            Param(
                "hub.challenge",
                "query",
                "Echoed back when the token matches.",
                {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"},
            ),
        ),
        authenticated=False,
        description="Verified by the config's `verify_token`, not a bearer token.",
    )
)
async def handshake(request: Request) -> Response:
    state, adapter, config = await _resolve(request)
    query = dict(request.query_params)
    try:
        challenge = await run_in_threadpool(_check_handshake, state, adapter, config, query)
    except RedisError as exc:
        raise TransientError("handshakes cannot be limited right now; retry later") from exc
    # Echoed only as the short token it was checked to be, and never sniffed as markup.
    return PlainTextResponse(challenge, headers={"X-Content-Type-Options": "nosniff"})


def _check_handshake(
    state: IngressState, adapter: WebhookAdapter, config: ChannelConfig, query: dict[str, str]
) -> str:
    """The challenge to echo. A verify token is chosen by people, so guesses are limited per
    config, and past the limit even the right token is refused: a hit must look like a miss."""
    failures = rate_limit.handshake_failures(state.limiter, state.settings, config.id)
    [look] = state.limiter.peek([failures])
    if not look.allowed:
        raise rate_limit.too_many(look, "too many failed handshakes for this webhook")
    try:
        challenge = adapter.handshake(query, config)
    except VerificationFailed as exc:
        counted = state.limiter.take_each([failures])
        if not counted.allowed:
            raise rate_limit.too_many(
                counted, "too many failed handshakes for this webhook"
            ) from None
        raise _unauthorized(config.channel, str(exc)) from None
    if not CHALLENGE.fullmatch(challenge):
        raise Problem(
            400,
            "invalid-challenge",
            "Invalid challenge",
            "hub.challenge must be 1 to 128 letters, digits, '-' or '_'",
        )
    return challenge


@documented(
    Operation(
        "receiveWebhook",
        "A provider's events: messages and delivery statuses",
        "webhooks",
        (
            Answer(
                200,
                "Verified and stored. Slack's `url_verification` gets its challenge back.",
                WebhookAnswer,
            ),
        ),
        {
            401: "`unauthorized`: the signature, token or body could not be verified, "
            "or it names an account that is not the config's.",
            404: NO_WEBHOOK,
            409: "`conflict`: the user's open conversation could not be resolved.",
            413: "`payload-too-large`: the body exceeds `PARLEY_MAX_WEBHOOK_BYTES` (1 MiB).",
            503: UNAVAILABLE,
        },
        params=(
            *WEBHOOK_PATH,
            Param("X-Hub-Signature-256", "header", "Meta: `sha256=<hex HMAC-SHA256>`."),
            Param("X-Slack-Signature", "header", "Slack: `v0=<hex HMAC-SHA256>`."),
            Param("X-Slack-Request-Timestamp", "header", "Slack: Unix seconds."),
        ),
        body={
            "application/json": {"type": "object", "description": "The provider's event."},
            "application/x-www-form-urlencoded": {
                "type": "object",
                "properties": {"payload": {"type": "string", "description": "JSON"}},
                "description": "Slack interactivity: the interaction as JSON in `payload`.",
            },
        },
        body_description="The raw bytes are verified before they are parsed.",
        authenticated=False,
        description=WEBHOOK_SECURITY,
    )
)
async def receive(request: Request) -> Response:
    state, adapter, config = await _resolve(request)
    raw = await read_limited(request, state.settings.max_webhook_bytes)
    headers = {name.lower(): value for name, value in request.headers.items()}
    # One trip to the thread pool for all of it: verifying may fetch a provider's keys.
    webhook = await run_in_threadpool(_receive, state, adapter, config, headers, raw)
    answer = WebhookAnswer.model_validate(webhook.response or {"status": "ok"})
    return JSONResponse(json_of(answer))


def _receive(
    state: IngressState,
    adapter: WebhookAdapter,
    config: ChannelConfig,
    headers: dict[str, str],
    raw: bytes,
) -> Webhook:
    """Verify, parse, then apply a webhook (``TransientError``: 503, the provider retries)."""
    try:
        adapter.verify(headers, raw, config, state.channels)
        webhook = adapter.parse(raw, headers.get("content-type", ""))
    except VerificationFailed as exc:
        raise _unauthorized(config.channel, str(exc)) from None
    foreign = webhook.account_ids - {config.account_id}
    if foreign:
        raise _unauthorized(config.channel, f"names accounts {sorted(foreign)} not in the config")
    state.observations.add(
        webhook_received(config.tenant_id, config.channel, config.id, _provider_event(webhook))
    )
    _apply(state, config, webhook)
    return webhook


def _provider_event(webhook: Webhook) -> str:
    """What a verified webhook carried, in a word or a few: messages, statuses, events (an
    install, members, a meeting), or other."""
    kinds = [
        name
        for name, items in (
            ("messages", webhook.messages),
            ("statuses", webhook.statuses),
            ("events", webhook.events),
        )
        if items
    ]
    return "+".join(kinds) or "other"


def _apply(state: IngressState, config: ChannelConfig, webhook: Webhook) -> None:
    """Persist and enqueue new messages; move delivery statuses forward (never a chain)."""
    for message in webhook.messages:
        created = accept_inbound(state, config, message)
        if not created:
            log.info("duplicate %s message %s ignored", config.channel, message.provider_message_id)
    for update in webhook.statuses:
        apply_status(state, config, update)
    for change in webhook.events:
        record_channel_event(state, config, change)


def record_channel_event(state: IngressState, config: ChannelConfig, change: ChannelEvent) -> None:
    """An install or removal changes the config's ``installation``, its event in the config's
    outbox; members and meetings are observations, queued with the other telemetry."""
    event = channel_lifecycle(config.tenant_id, config.channel, config.id, change)
    if change.kind in INSTALLATION_KINDS:
        state.channel_configs.record_installation(config.tenant_id, config.id, change, event)
    else:
        state.observations.add(event)


def apply_status(state: IngressState, config: ChannelConfig, update: StatusUpdate) -> None:
    """One status report, as the deliver stage expects to find it (storage/provider_reports.py);
    also the web channel's, whose browser reports for it (``ingress/ws.py``)."""
    status = STATUS_FOR[update.state]
    fields = {"delivery_error": dict(update.error)} if update.error else None
    if update.provider_message_id is not None:
        # A callback speaks only for what was sent through its own config (and to its user).
        # Noted first: a reply still being sent is the deliver stage's to move, from the note.
        state.reports.note(config.tenant_id, config.id, update.provider_message_id, status)
        state.messages.apply_provider_status(
            config.tenant_id,
            update.provider_message_id,
            status,
            fields,
            channel_config_id=config.id or None,  # the web channel's replies name no config
            user_id=update.user_id,
        )
    elif update.watermark is not None and update.user_id is not None:
        state.messages.apply_watermark(
            config.tenant_id, config.id, update.user_id, status, update.watermark
        )


routes = [
    Route("/webhooks/{channel}/{config_id}", handshake, methods=["GET"]),
    Route("/webhooks/{channel}/{config_id}", receive, methods=["POST"]),
]
