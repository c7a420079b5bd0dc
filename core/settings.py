"""Parley's settings: read once from ``PARLEY_*`` environment variables, typed, failing fast."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core import dev_secrets
from core.errors import ConfigurationError
from core.home import default_home

# What the engine needs beside its backend call within the caller's deadline (the network, its
# own work, a reconnect).
ENGINE_DEADLINE_MARGIN_SECONDS = 1.0

# When an outbound webhook's attempts go out, in seconds after the one before (the first
# immediately): the Standard Webhooks specification's example schedule, about three days.
WEBHOOK_RETRY_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)


def _dev_secret(name: str) -> Any:
    """A default that is the checkout's development secret ``name``, if ``parley run`` made it."""

    def read(data: dict[str, Any]) -> SecretStr | None:
        home = data.get("home")
        secret = dev_secrets.existing(home, name) if isinstance(home, Path) else None
        return SecretStr(secret) if secret else None

    return Field(default_factory=read)


class Settings(BaseSettings):
    """Every knob of the platform; defaults point at the local services on 127.0.0.1."""

    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore", frozen=True)

    # The state folder (local services' data and logs, beat's schedule, development secrets);
    # see core/home.py for the default. Declared first: the secrets' defaults read it.
    home: Path = Field(default_factory=default_home)
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    mongo_db: str = "parley"
    # Bounds every MongoDB operation (pymongo's timeoutMS), so a server that stops answering
    # without closing its connections costs a thread this long, not for ever. Above FerretDB's
    # 10 s SQLite busy timeout, so a busy store answers "busy" before the client gives up.
    mongo_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = "redis://127.0.0.1:6379/1"
    kafka_bootstrap: str = "127.0.0.1:9092"
    engine_addr: str = "127.0.0.1:50051"
    security_hub_addr: str | None = None

    # No default outside a checkout: the ingress refuses to start without it (see
    # ``require_jwt_secret``); in one, the development secret ``parley run`` made.
    jwt_secret: SecretStr | None = _dev_secret(dev_secrets.JWT_SECRET)
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # Optional: when set, every JWT must carry this ``iss`` / ``aud``.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # Optional: RS256/ES256 tokens are verified with the keys this JWKS URL serves.
    jwt_jwks_url: str | None = None
    jwt_jwks_cache_seconds: int = Field(default=300, ge=0, le=86400)
    # How long the ingress trusts the Security Hub's answer about one token.
    security_hub_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    security_hub_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    # How long the ingress trusts its copy of a tenant's record (state, limits) and of a channel
    # config a webhook URL names: disabling a tenant, or changing or removing a config, takes
    # effect within this many seconds, without restarts.
    tenant_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    # How long the ingress remembers a user's open conversation, so a returning user's messages
    # cost no read. A close anywhere marks the conversation in Redis for longer than this
    # (storage/conversations.py), so a remembered id never outlives its conversation; one
    # removed by retention meanwhile is re-created by the first message after the window.
    conversation_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    # A conversation with no message for this long is closed by a beat job; a tenant's own
    # ``conversation_idle_minutes`` replaces it.
    conversation_idle_minutes: int = Field(default=1440, ge=1, le=525_600)

    # Rate limits (token buckets): defaults for tenants whose record sets none.
    rate_limit_tenant_per_second: float = Field(default=100.0, gt=0)
    rate_limit_tenant_burst: int = Field(default=200, ge=1)
    rate_limit_credential_per_second: float = Field(default=50.0, gt=0)
    rate_limit_credential_burst: int = Field(default=100, ge=1)
    # Failed authentications per source address, and per presented key id or token, before
    # further failures get 429s instead of 401s (a credential that verifies is still accepted).
    auth_failure_per_second: float = Field(default=1.0, gt=0)
    auth_failure_burst: int = Field(default=30, ge=1)
    # Failed webhook handshakes (a wrong hub.verify_token) per channel config before every
    # handshake for it gets 429, the right token too: a verify token is chosen by people.
    handshake_failure_per_second: float = Field(default=0.01, gt=0)
    handshake_failure_burst: int = Field(default=10, ge=1)
    # Message frames per web visitor (``GET /v1/ws``); past them a frame is answered
    # ``rate-limited`` and nothing is stored.
    visitor_message_per_second: float = Field(default=1.0, gt=0)
    visitor_message_burst: int = Field(default=20, ge=1)
    # A widget socket: its hello must come this soon; its token's expiry and its widget's
    # ``enabled`` are checked again this often (and on every message frame).
    ws_hello_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    ws_recheck_seconds: float = Field(default=30.0, gt=0, le=3600)

    # Web widgets: how long a visitor token lives (the widget renews it), and the sessions and
    # visitor requests each widget and each visitor may make.
    visitor_token_seconds: int = Field(default=900, ge=60, le=86400)
    rate_limit_widget_per_second: float = Field(default=20.0, gt=0)
    rate_limit_widget_burst: int = Field(default=200, ge=1)
    rate_limit_visitor_per_second: float = Field(default=2.0, gt=0)
    rate_limit_visitor_burst: int = Field(default=60, ge=1)
    # Development only: widget origins and avatars on plain http for any host, not only
    # localhost and 127.0.0.1.
    widget_allow_http: bool = False

    # Fernet key (url-safe base64 of 32 bytes) that encrypts channel secrets at rest.
    master_key: SecretStr | None = _dev_secret(dev_secrets.MASTER_KEY)
    public_base_url: str = "http://127.0.0.1:8000"
    # The widget `GET /demo` embeds; unset (everywhere but `parley run`), `/demo` is a 404.
    demo_widget_id: str | None = Field(default=None, pattern=r"^wgt_[A-Za-z0-9_-]{1,64}$")
    max_webhook_bytes: int = Field(default=1024 * 1024, ge=1024)

    # Provider endpoints: settings, so tests and staging point them at fakes.
    whatsapp_api_base: str = "https://graph.facebook.com/v23.0"
    messenger_api_base: str = "https://graph.facebook.com/v23.0"
    slack_api_base: str = "https://slack.com/api"
    teams_openid_metadata_url: str = (
        "https://login.botframework.com/v1/.well-known/openidconfiguration"
    )
    teams_token_url: str = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"  # noqa: S105
    channel_send_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    # Inbound media (processors/media): clamd's INSTREAM address and its time per file, and
    # the time one download may take. A download's size limit is the tenant's
    # ``processing.processors.media.max_bytes``.
    clamd_addr: str = "127.0.0.1:3310"
    clamd_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    media_fetch_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    # Development only: media URLs on loopback and private networks (the provider fakes);
    # otherwise a URL resolving to a non-public address is refused, so a webhook cannot
    # make Parley fetch from its own network.
    media_allow_private_addresses: bool = False

    # Outbound webhooks (tasks/webhooks.py). Development only: http URLs and hosts on loopback
    # and private networks; otherwise only https to public addresses, checked at subscribe
    # time and again at every connect.
    webhooks_allow_private: bool = False
    webhooks_timeout_seconds: float = Field(default=15.0, gt=0, le=60)
    # Comma-separated delays in seconds, one per attempt (see WEBHOOK_RETRY_SCHEDULE); tests
    # shorten it. Past the last one a delivery is dead.
    webhooks_retry_schedule: str = ",".join(str(s) for s in WEBHOOK_RETRY_SCHEDULE)
    # An endpoint that has failed every attempt for this long is disabled.
    webhooks_disable_after_seconds: float = Field(default=5 * 86400, gt=0)
    # After a rotation the previous secret keeps signing beside the new one for this long.
    webhooks_rotation_overlap_seconds: float = Field(default=86400, ge=0, le=30 * 86400)

    # Alerts of notification rules (consumers/notifications.py, docs/notifications.md). No SMTP
    # host: email targets are skipped; no SMS account SID: SMS targets are skipped. Slack URLs
    # obey PARLEY_WEBHOOKS_ALLOW_PRIVATE like webhook endpoints.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = Field(default="parley-alerts@localhost", min_length=3)
    smtp_starttls: bool = True
    sms_base_url: str = "https://api.twilio.com"
    sms_account_sid: str | None = None
    sms_auth_token: SecretStr | None = None
    sms_from: str | None = None
    # One alert's send to one target (an SMTP session, a Slack or SMS API call) takes at most this.
    alert_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    # `/health/ready`: each dependency's probe is bounded by this, and one report serves every
    # request for the cache time, so a flood of probes costs one set of pings per interval.
    readiness_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    readiness_cache_seconds: float = Field(default=1.0, ge=0, le=60)

    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, GET /metrics requires `Authorization: Bearer <it>`; when unset, "
        "bind the ingress's metrics to a private network (docs/metrics.md).",
    )

    ingress_host: str = "127.0.0.1"
    ingress_port: int = 8000
    # Proxies whose X-Forwarded-For uvicorn believes (comma-separated addresses or networks,
    # "*" for any): the client they name is the address failed authentications count against.
    forwarded_allow_ips: str = Field(default="127.0.0.1", min_length=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    page_size_max: int = Field(default=100, ge=1, le=1000)
    max_json_depth: int = Field(default=32, ge=2, le=512)

    # Retention. A tenant's conversations, messages and media go by its own ``retention_days``
    # (the admin API); these bound the stores of every tenant (storage/retention.py), swept
    # hourly: the audit-trail consumer's ``event_log``, the consumers' processed-event ledger
    # (keep it longer than Kafka keeps events, or a replay of an older one applies it again),
    # finished outbound webhook deliveries, and the admin audit trail, kept a year.
    retention_event_log_days: int = Field(default=30, ge=1, le=3650)
    retention_processed_events_days: int = Field(default=30, ge=1, le=3650)
    retention_webhook_deliveries_days: int = Field(default=30, ge=1, le=3650)
    retention_audit_days: int = Field(default=365, ge=1, le=3650)

    # Tasks of one stage a tenant may run at once across all workers (0: no cap); see
    # tasks/fairness.py.
    # 4 leaves half of a deliver or generate worker's 8 threads to the other tenants.
    tenant_stage_concurrency: int = Field(default=4, ge=0, le=1000)

    history_window: int = Field(default=20, ge=1, le=200)
    session_ttl_seconds: int = Field(default=30 * 60, ge=60)
    # The caller's deadline for one engine call; it must outlast the engine's own backend
    # timeout (see ``_engine_deadlines_nest``).
    engine_timeout_seconds: float = Field(default=25.0, gt=0, le=120)
    engine_retry_max: int = Field(default=5, ge=0, le=20)

    # Long enough for a fresh idempotent producer to get its id; an outage costs this per turn.
    kafka_publish_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # How often each worker process tells its stages' latency and throughput (system.performance).
    performance_window_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Event consumers (consumers/): handler ``h`` reads in consumer group ``<prefix>h``, so
    # two deployments (or test runs) on one Kafka keep their offsets apart.
    consumer_group_prefix: str = Field(default="parley.", min_length=1)
    # Replaces a handler's event patterns (JSON, e.g. ``{"audit_trail": ["chat.message.*"]}``):
    # narrows or widens what it takes without a release; unset, the registry's own.
    consumer_events: dict[str, list[str]] = Field(default_factory=dict)
    # Where a handler parks an event it failed after its retries.
    event_dlq_topic: str = Field(default="parley.events.dlq", min_length=1)
    # Sent to the user when the engine stays unavailable through every retry.
    engine_fallback_text: str = Field(
        default="Sorry, I can't answer right now. Please try again in a moment.", min_length=1
    )
    # Caps every channel's delivery attempts (tests and cautious operators); unset = policy's.
    delivery_max_attempts: int | None = Field(default=None, ge=1, le=50)
    # A turn with no progress for this long is re-driven by the reconciler.
    reconcile_after_seconds: float = Field(default=30.0, ge=5)

    engine_backend: Literal["rules", "openai"] = "rules"
    engine_port: int = 50051
    engine_rules_file: str | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-4o-mini"
    openai_api_key: SecretStr | None = None
    openai_timeout_seconds: float = Field(default=20.0, gt=0, le=300)

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read on first use; a bad or missing value stops the process."""
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
