"""Parley's settings: read once from ``PARLEY_*`` environment variables, typed, failing fast."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core import dev_secrets
from core.errors import ConfigurationError
from core.home import default_home
from core.queue_names import QUEUE_NAMES

# What the engine needs beside its backend call within the caller's deadline (the network, its
# own work, a reconnect).
ENGINE_DEADLINE_MARGIN_SECONDS = 1.0

# When an outbound webhook's attempts go out, in seconds after the one before (the first
# immediately): the Standard Webhooks specification's example schedule, about three days.
WEBHOOK_RETRY_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)


def _dev_secret(name: str, description: str) -> Any:
    """A default that is the checkout's development secret ``name``, if ``parley run`` made it."""

    def read(data: dict[str, Any]) -> SecretStr | None:
        home = data.get("home")
        secret = dev_secrets.existing(home, name) if isinstance(home, Path) else None
        return SecretStr(secret) if secret else None

    return Field(default_factory=read, description=description)


class Settings(BaseSettings):
    """Every knob of the platform; defaults point at the local services on 127.0.0.1."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore", frozen=True)

    home: Path = Field(
        default_factory=default_home,
        description="The state folder: the local services' data and logs, beat's schedule, the"
        " development secrets. In a checkout its `.parley`, otherwise the user's data folder"
        " (core/home.py). Declared first: the secrets' defaults read it.",
    )
    mongo_url: str = Field(
        default="mongodb://127.0.0.1:27017/", description="MongoDB (FerretDB) connection URL."
    )
    mongo_db: str = Field(default="parley", description="The MongoDB database Parley uses.")
    mongo_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="Bounds every MongoDB operation (pymongo's timeoutMS), so a server that stops"
        " answering without closing its connections costs a thread this long, not for ever. Above"
        ' FerretDB\'s 10 s SQLite busy timeout, so a busy store answers "busy" before the client'
        " gives up.",
    )
    ferretdb_handler: Literal["sqlite", "postgresql"] = Field(
        default="sqlite",
        description="The storage under the FerretDB that `parley services up` runs when"
        " `PARLEY_MONGO_URL` names no server of your own: `sqlite` (files under the state folder)"
        " or `postgresql` (a PostgreSQL cluster of its own on 127.0.0.1:5433, started with it)."
        " Stop the services before switching (bench/HISTORY.md has the measurements).",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Redis for rate limits, caches and coordination (not the broker).",
    )
    broker_url: str = Field(
        default="redis://127.0.0.1:6379/1", description="The Celery broker (Redis) URL."
    )
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, for the event stream."
    )
    engine_addr: str = Field(
        default="127.0.0.1:50051", description="The MCP engine's gRPC address (host:port)."
    )
    security_hub_addr: str | None = Field(
        default=None,
        description="The Security Hub's gRPC address; unset, the ingress verifies credentials"
        " itself.",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OpenTelemetry traces (core/tracing.py): the OTLP/HTTP collector's base URL"
        " (spans go to `<it>/v1/traces`); unset, nothing is traced and no exporter runs.",
    )

    jwt_secret: SecretStr | None = _dev_secret(
        dev_secrets.JWT_SECRET,
        "The HS256 signing secret of bearer tokens (at least 32 characters). No default outside a"
        " checkout: the ingress refuses to start without it (`require_jwt_secret`); in one, the"
        " development secret `parley run` made.",
    )
    jwt_leeway_seconds: int = Field(
        default=30, ge=0, le=300, description="Clock skew allowed on a JWT's exp and nbf."
    )
    jwt_issuer: str | None = Field(
        default=None, description="Optional: when set, every JWT must carry this `iss`."
    )
    jwt_audience: str | None = Field(
        default=None, description="Optional: when set, every JWT must carry this `aud`."
    )
    jwt_jwks_url: str | None = Field(
        default=None,
        description="Optional: RS256/ES256 tokens are verified with the keys this JWKS URL serves.",
    )
    jwt_jwks_cache_seconds: int = Field(
        default=300, ge=0, le=86400, description="How long the JWKS's keys are kept."
    )
    security_hub_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="How long the ingress trusts the Security Hub's answer about one token.",
    )
    security_hub_timeout_seconds: float = Field(
        default=1.0, gt=0, le=30, description="The time one Security Hub call may take."
    )
    tenant_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="How long the ingress trusts its copy of a tenant's record (state, limits) and"
        " of a channel config a webhook URL names: disabling a tenant, or changing or removing a"
        " config, takes effect within this many seconds, without restarts.",
    )
    conversation_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How long the ingress remembers a user's open conversation, so a returning"
        " user's messages cost no read. A close anywhere marks the conversation in Redis for"
        " longer than this (storage/conversations.py), so a remembered id never outlives its"
        " conversation; one removed by retention meanwhile is re-created by the first message"
        " after the window.",
    )
    conversation_idle_minutes: int = Field(
        default=1440,
        ge=1,
        le=525_600,
        description="A conversation with no message for this long is closed by a beat job; a"
        " tenant's own `conversation_idle_minutes` replaces it.",
    )

    rate_limit_tenant_per_second: float = Field(
        default=100.0, gt=0, description="Requests per second of a tenant whose record sets none."
    )
    rate_limit_tenant_burst: int = Field(
        default=200, ge=1, description="The burst of a tenant whose record sets none."
    )
    rate_limit_credential_per_second: float = Field(
        default=50.0, gt=0, description="Requests per second of one credential (key or token)."
    )
    rate_limit_credential_burst: int = Field(
        default=100, ge=1, description="The burst of one credential."
    )
    auth_failure_per_second: float = Field(
        default=1.0,
        gt=0,
        description="Failed authentications per source address, and per presented key id or"
        " token, before further failures get 429s instead of 401s (a credential that verifies is"
        " still accepted).",
    )
    auth_failure_burst: int = Field(
        default=30, ge=1, description="The burst of failed authentications (see the rate above)."
    )
    handshake_failure_per_second: float = Field(
        default=0.01,
        gt=0,
        description="Failed webhook handshakes (a wrong hub.verify_token) per channel config"
        " before every handshake for it gets 429, the right token too: a verify token is chosen"
        " by people.",
    )
    handshake_failure_burst: int = Field(
        default=10, ge=1, description="The burst of failed webhook handshakes."
    )
    visitor_message_per_second: float = Field(
        default=1.0,
        gt=0,
        description="Message frames per web visitor (`GET /v1/ws`); past them a frame is answered"
        " `rate-limited` and nothing is stored.",
    )
    visitor_message_burst: int = Field(
        default=20, ge=1, description="The burst of a web visitor's message frames."
    )
    ws_hello_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="A widget socket's hello must come this soon."
    )
    ws_recheck_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How often a widget socket's token expiry and its widget's `enabled` are"
        " checked again (and on every message frame).",
    )

    visitor_token_seconds: int = Field(
        default=900,
        ge=60,
        le=86400,
        description="How long a web widget's visitor token lives (the widget renews it).",
    )
    rate_limit_widget_per_second: float = Field(
        default=20.0, gt=0, description="Sessions and visitor requests per second of one widget."
    )
    rate_limit_widget_burst: int = Field(default=200, ge=1, description="One widget's burst.")
    rate_limit_visitor_per_second: float = Field(
        default=2.0, gt=0, description="Requests per second of one widget visitor."
    )
    rate_limit_visitor_burst: int = Field(default=60, ge=1, description="One visitor's burst.")
    widget_allow_http: bool = Field(
        default=False,
        description="Development only: widget origins and avatars on plain http for any host, not"
        " only localhost and 127.0.0.1.",
    )

    master_key: SecretStr | None = _dev_secret(
        dev_secrets.MASTER_KEY,
        "Fernet key (url-safe base64 of 32 bytes, `parley keygen`) that encrypts channel secrets"
        " at rest. In a checkout, the development key `parley run` made.",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The ingress's public URL, the base of the webhook URLs Parley hands out.",
    )
    demo_widget_id: str | None = Field(
        default=None,
        pattern=r"^wgt_[A-Za-z0-9_-]{1,64}$",
        description="The widget `GET /demo` embeds; unset (everywhere but `parley run`), `/demo`"
        " is a 404.",
    )
    max_webhook_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="The largest provider webhook body accepted."
    )

    whatsapp_api_base: str = Field(
        default="https://graph.facebook.com/v23.0",
        description="WhatsApp Cloud API endpoint (a setting, so tests and staging use fakes).",
    )
    messenger_api_base: str = Field(
        default="https://graph.facebook.com/v23.0", description="Messenger Graph API endpoint."
    )
    slack_api_base: str = Field(default="https://slack.com/api", description="Slack Web API base.")
    teams_openid_metadata_url: str = Field(
        default="https://login.botframework.com/v1/.well-known/openidconfiguration",
        description="Bot Framework OpenID metadata, whose keys sign Teams' inbound activities.",
    )
    teams_token_url: str = Field(
        default="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        description="Where a Teams bot gets its access token (`{tenant}` is filled in).",
    )
    channel_send_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="The time one send to a provider may take."
    )
    worker_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="The port each worker's main process serves its Prometheus metrics on"
        " (`parley worker --metrics-port` overrides it); 0: none. One port per worker on a host.",
    )
    worker_concurrency: str = Field(
        default="",
        description="Threads or processes of a queue's worker, per queue, as"
        " `process=2,generate=8`; a queue not named keeps its default (tasks/queues.py), and"
        " `parley worker --concurrency` overrides both.",
    )
    worker_metrics_host: str = Field(
        default="127.0.0.1",
        description="The address the workers' metrics endpoint binds (`0.0.0.0` in a pod, for"
        " the scraper).",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, GET /metrics requires `Authorization: Bearer <it>`; when unset, "
        "bind the ingress's metrics to a private network (docs/metrics.md).",
    )

    clamd_addr: str = Field(
        default="127.0.0.1:3310",
        description="clamd's INSTREAM address, which scans inbound media (processors/media). A"
        " download's size limit is the tenant's `processing.processors.media.max_bytes`.",
    )
    clamd_timeout_seconds: float = Field(
        default=15.0, gt=0, le=300, description="clamd's time for one file."
    )
    media_fetch_timeout_seconds: float = Field(
        default=15.0, gt=0, le=120, description="The time one media download may take."
    )
    media_allow_private_addresses: bool = Field(
        default=False,
        description="Development only: media URLs on loopback and private networks (the provider"
        " fakes); otherwise a URL resolving to a non-public address is refused, so a webhook"
        " cannot make Parley fetch from its own network.",
    )

    webhooks_allow_private: bool = Field(
        default=False,
        description="Outbound webhooks (tasks/webhooks.py), development only: http URLs and hosts"
        " on loopback and private networks; otherwise only https to public addresses, checked at"
        " subscribe time and again at every connect.",
    )
    webhooks_timeout_seconds: float = Field(
        default=15.0, gt=0, le=60, description="The time one outbound webhook attempt may take."
    )
    webhooks_retry_schedule: str = Field(
        default=",".join(str(s) for s in WEBHOOK_RETRY_SCHEDULE),
        description="Comma-separated delays in seconds, one per outbound webhook attempt (the"
        " Standard Webhooks example schedule, about three days); tests shorten it. Past the last"
        " one a delivery is dead.",
    )
    webhooks_disable_after_seconds: float = Field(
        default=5 * 86400,
        gt=0,
        description="An endpoint that has failed every attempt for this long is disabled.",
    )
    webhooks_rotation_overlap_seconds: float = Field(
        default=86400,
        ge=0,
        le=30 * 86400,
        description="After a rotation the previous secret keeps signing beside the new one for"
        " this long.",
    )

    smtp_host: str | None = Field(
        default=None,
        description="SMTP server for notification alerts (docs/notifications.md); unset, email"
        " targets are skipped.",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="The SMTP server's port.")
    smtp_username: str | None = Field(default=None, description="SMTP login, if it needs one.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_from: str = Field(
        default="parley-alerts@localhost", min_length=3, description="The alerts' From address."
    )
    smtp_starttls: bool = Field(default=True, description="Upgrade the SMTP session with STARTTLS.")
    sms_base_url: str = Field(
        default="https://api.twilio.com", description="The SMS (Twilio-compatible) API base."
    )
    sms_account_sid: str | None = Field(
        default=None,
        description="SMS account SID; unset, SMS alert targets are skipped. Set, the auth token"
        " and the sender must be set too.",
    )
    sms_auth_token: SecretStr | None = Field(default=None, description="SMS account auth token.")
    sms_from: str | None = Field(default=None, description="The SMS alerts' sender number.")
    alert_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="One alert's send to one target (an SMTP session, a Slack or SMS API call)"
        " takes at most this. Slack URLs obey PARLEY_WEBHOOKS_ALLOW_PRIVATE like webhook"
        " endpoints.",
    )

    readiness_timeout_seconds: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="`/health/ready`: each dependency's probe is bounded by this.",
    )
    readiness_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="`/health/ready`: one report serves every request for this long, so a flood"
        " of probes costs one set of pings per interval.",
    )

    ingress_host: str = Field(default="127.0.0.1", description="The address the ingress binds.")
    ingress_port: int = Field(default=8000, description="The port the ingress listens on.")
    ingress_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="The ingress's processes (uvicorn workers, one port; `parley ingress"
        " --workers` overrides it). GET /metrics answers the sum over them.",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Proxies whose X-Forwarded-For uvicorn believes (comma-separated addresses or"
        ' networks, "*" for any): the client they name is the address failed authentications'
        " count against.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="The largest API request body accepted."
    )
    idempotency_ttl_seconds: int = Field(
        default=24 * 3600, ge=60, description="How long an Idempotency-Key's answer is kept."
    )
    page_size_max: int = Field(
        default=100, ge=1, le=1000, description="The largest page a list endpoint returns."
    )
    max_json_depth: int = Field(
        default=32, ge=2, le=512, description="The deepest JSON nesting a request may have."
    )

    retention_event_log_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Retention of the audit-trail consumer's `event_log`, every tenant's (swept"
        " hourly, storage/retention.py; a tenant's conversations, messages and media go by its"
        " own `retention_days`).",
    )
    retention_processed_events_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Retention of the consumers' processed-event ledger: keep it longer than"
        " Kafka keeps events, or a replay of an older one applies it again.",
    )
    retention_webhook_deliveries_days: int = Field(
        default=30, ge=1, le=3650, description="Retention of finished outbound webhook deliveries."
    )
    retention_audit_days: int = Field(
        default=365, ge=1, le=3650, description="Retention of the admin audit trail."
    )

    tenant_stage_concurrency: int = Field(
        default=4,
        ge=0,
        le=1000,
        description="Tasks of one stage a tenant may run at once across all workers (0: no cap;"
        " tasks/fairness.py). 4 leaves half of a deliver or generate worker's 8 threads to the"
        " other tenants.",
    )

    history_window: int = Field(
        default=20, ge=1, le=200, description="Messages of history sent to the engine per turn."
    )
    burst_window_ms: int = Field(
        default=1000,
        ge=0,
        le=10_000,
        description="How long a turn waits before its reply is generated, so that more messages"
        " the user sends meanwhile are answered with it, as one turn (docs/bursts.md; 0: each"
        " message waits for nothing, though messages that arrive while an earlier turn is being"
        " worked are still answered together). A tenant's `bursts.window_ms` replaces it.",
    )
    burst_max_messages: int = Field(
        default=20,
        ge=1,
        le=100,
        description="The most messages one reply answers (1: bursts off). A tenant's"
        " `bursts.max_messages` replaces it.",
    )
    session_ttl_seconds: int = Field(
        default=30 * 60,
        ge=60,
        description="How long a conversation's session context (Redis) lives without a turn.",
    )
    engine_timeout_seconds: float = Field(
        default=25.0,
        gt=0,
        le=120,
        description="The caller's deadline for one engine call; it must outlast the engine's own"
        " backend timeout (PARLEY_OPENAI_TIMEOUT_SECONDS) by at least 1 s.",
    )
    engine_retry_max: int = Field(
        default=5, ge=0, le=20, description="Retries of an engine call that is unavailable."
    )

    kafka_publish_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="Long enough for a fresh idempotent producer to get its id; an outage costs"
        " this per turn.",
    )
    performance_window_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How often each worker process tells its stages' latency and throughput"
        " (system.performance).",
    )
    consumer_group_prefix: str = Field(
        default="parley.",
        min_length=1,
        description="Event consumers (consumers/): handler `h` reads in consumer group"
        " `<prefix>h`, so two deployments (or test runs) on one Kafka keep their offsets apart.",
    )
    consumer_events: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Replaces a handler's event patterns (JSON, e.g."
        ' `{"audit_trail": ["chat.message.*"]}`): narrows or widens what it takes without a'
        " release; unset, the registry's own.",
    )
    event_dlq_topic: str = Field(
        default="parley.events.dlq",
        min_length=1,
        description="Where a handler parks an event it failed after its retries.",
    )
    engine_fallback_text: str = Field(
        default="Sorry, I can't answer right now. Please try again in a moment.",
        min_length=1,
        description="Sent to the user when the engine stays unavailable through every retry.",
    )
    delivery_max_attempts: int | None = Field(
        default=None,
        ge=1,
        le=50,
        description="Caps every channel's delivery attempts (tests and cautious operators);"
        " unset, the channel policy's.",
    )
    reconcile_after_seconds: float = Field(
        default=30.0,
        ge=5,
        description="A turn with no progress for this long is re-driven by the reconciler.",
    )

    engine_backend: Literal["rules", "openai"] = Field(
        default="rules", description="The reference engine's backend (`parley engine`)."
    )
    engine_port: int = Field(default=50051, description="The port `parley engine` listens on.")
    engine_rules_file: str | None = Field(
        default=None, description="The rules backend's rules file; unset, its built-in rules."
    )
    openai_base_url: str = Field(
        default="https://api.openai.com/v1",
        description="The OpenAI-compatible API the openai backend calls.",
    )
    openai_model: str = Field(default="gpt-4o-mini", description="The openai backend's model.")
    openai_api_key: SecretStr | None = Field(
        default=None, description="The openai backend's API key."
    )
    openai_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        le=300,
        description="The time the engine's one backend call may take.",
    )
    openai_reply_parts: bool = Field(
        default=True,
        description="The openai backend asks the model for reply parts (buttons, cards, lists,"
        " locations, files, templates) through a strict JSON-schema `response_format`; false"
        " for an OpenAI-compatible server without structured outputs (its replies are text)."
        " Streamed turns always ask for text.",
    )

    flower_basic_auth: SecretStr | None = _dev_secret(
        dev_secrets.FLOWER_BASIC_AUTH,
        "`user:password` Flower (`parley flower`) requires of every request (basic auth);"
        " Flower does not start without it. In a checkout, the development login `parley run`"
        " made and prints.",
    )

    @model_validator(mode="after")
    def _engine_deadlines_nest(self) -> Settings:
        # A backend call that outlives the caller's deadline is abandoned, retried and billed
        # again: the engine must give up on its backend first and say so (UNAVAILABLE).
        if self.openai_timeout_seconds + ENGINE_DEADLINE_MARGIN_SECONDS > (
            self.engine_timeout_seconds
        ):
            raise ValueError(
                f"PARLEY_OPENAI_TIMEOUT_SECONDS ({self.openai_timeout_seconds:g}) must be at least"
                f" {ENGINE_DEADLINE_MARGIN_SECONDS:g} s below PARLEY_ENGINE_TIMEOUT_SECONDS"
                f" ({self.engine_timeout_seconds:g}): the engine's backend call has to end before"
                " the caller's deadline, or a slow completion is abandoned and paid for again"
            )
        return self

    @model_validator(mode="after")
    def _sms_account_complete(self) -> Settings:
        if self.sms_account_sid and not (self.sms_auth_token and self.sms_from):
            raise ValueError(
                "PARLEY_SMS_ACCOUNT_SID is set: PARLEY_SMS_AUTH_TOKEN and PARLEY_SMS_FROM must be"
                " set too"
            )
        return self

    @field_validator("webhooks_retry_schedule")
    @classmethod
    def _retry_schedule(cls, value: str) -> str:
        _delays(value)
        return value

    @property
    def webhook_retry_delays(self) -> tuple[float, ...]:
        """The retry schedule: the delay before each attempt, the first one's included."""
        return _delays(self.webhooks_retry_schedule)

    @field_validator("worker_concurrency")
    @classmethod
    def _worker_concurrency(cls, value: str) -> str:
        _concurrencies(value)
        return value

    @property
    def worker_concurrencies(self) -> dict[str, int]:
        """``PARLEY_WORKER_CONCURRENCY`` read: queue name -> threads or processes."""
        return _concurrencies(self.worker_concurrency)

    @field_validator("home", mode="before")
    @classmethod
    def _home(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return default_home()  # PARLEY_HOME= (empty) means unset
        return value

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    def require_jwt_secret(self) -> bytes:
        """The JWT signing secret; processes that verify or mint tokens cannot run without it."""
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if len(secret) < 32:
            raise ConfigurationError(
                "PARLEY_JWT_SECRET must be at least 32 characters (HS256 needs a 256-bit key); "
                "in a checkout, `parley run` makes a development one that every shell there uses"
            )
        return secret.encode()

    def require_master_key(self) -> bytes:
        """The key that encrypts channel secrets; nothing that reads or writes them runs without."""
        key = self.master_key.get_secret_value() if self.master_key else ""
        if not key:
            raise ConfigurationError(
                "PARLEY_MASTER_KEY must be set (a Fernet key: `parley keygen` prints one)"
            )
        return key.encode()


def _delays(text: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError("must be comma-separated seconds, e.g. 0,5,300") from None
    if not delays or not all(0 <= delay <= 7 * 86400 for delay in delays):
        raise ValueError("each delay must be between 0 and 604800 seconds")
    return delays


MAX_CONCURRENCY = 256


def _concurrencies(text: str) -> dict[str, int]:
    """``process=2,generate=8`` as a mapping; an unknown queue, a repeated one or a count
    that is not a whole number from 1 to ``MAX_CONCURRENCY`` is refused by name."""
    found: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        queue, sep, count = (s.strip() for s in part.partition("="))
        if not sep:
            raise ValueError(f"{part!r} must look like QUEUE=N, e.g. process=2,generate=8")
        if queue not in QUEUE_NAMES:
            raise ValueError(f"unknown queue {queue!r} (queues: {', '.join(QUEUE_NAMES)})")
        if queue in found:
            raise ValueError(f"queue {queue!r} is given twice")
        if not (count.isdigit() and 1 <= int(count) <= MAX_CONCURRENCY):
            raise ValueError(
                f"{queue}={count!r}: the concurrency must be a whole number from 1 to"
                f" {MAX_CONCURRENCY}"
            )
        found[queue] = int(count)
    return found


# ``PARLEY_*`` variables that are not settings, and whom they belong to: the benchmark's
# (bench/) and the fault scenarios' knobs, the log level and format (core/logs.py, read before
# settings),
# and the test suite's own. Anything else under the prefix is a typo and stops start-up.
NOT_SETTINGS_PREFIXES = ("PARLEY_BENCH_", "PARLEY_FAULTS_")
NOT_SETTINGS = frozenset(
    {
        "PARLEY_BENCH",
        "PARLEY_LOG_LEVEL",
        "PARLEY_LOG_FORMAT",
        "PARLEY_FUZZ_EXAMPLES",  # tests/ingress/test_fuzz_openapi.py
        "PARLEY_WRITE_SCREENSHOT",  # tests/browser: rewrite the README's pictures
        "PARLEY_PROBE",  # tests/services/devstack: a child's environment
    }
)


def setting_names() -> list[str]:
    """Every setting's environment variable."""
    return [f"PARLEY_{name.upper()}" for name in Settings.model_fields]


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line per ``PARLEY_*`` variable that is neither a setting nor allowed, with the
    setting it most likely meant."""
    known = setting_names()
    problems = []
    for variable in sorted(environ):
        if (
            not variable.startswith("PARLEY_")
            or variable in known
            or variable in NOT_SETTINGS
            or variable.startswith(NOT_SETTINGS_PREFIXES)
        ):
            continue
        close = difflib.get_close_matches(variable, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{variable} is not a Parley setting{hint}")
    return problems


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read on first use; a bad or missing value, or a ``PARLEY_*``
    variable that is no setting (a typo), stops the process."""
    unknown = unknown_variables(os.environ)
    if unknown:
        raise ConfigurationError(f"invalid Parley settings: {'; '.join(unknown)}")
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"PARLEY_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            if err["loc"]
            else err["msg"].removeprefix("Value error, ")  # a rule across several settings
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid Parley settings: {problems}") from None
