"""What the ingress holds for its lifetime: clients built in the lifespan, not at import."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient
from redis.asyncio import Redis as AsyncRedis

from channels.runtime import ChannelRuntime, runtime_from_settings
from core.envelopes import ChannelConfig
from core.jwt_verifier import JwtVerifier
from core.settings import Settings
from core.system_events import system_health
from core.ttl_cache import TtlCache
from ingress.auth import Authenticator
from ingress.readiness import Readiness
from protos.engine_client import EngineClient
from protos.security_hub_client import SecurityHubClient
from storage.admin_audit import AdminAuditLog
from storage.credentials import ApiKeyRepository
from storage.erasures import ErasureReceipts
from storage.kafka_producer import EventPublisher
from storage.mongo import ensure_indexes
from storage.notification_rules import NotificationRuleRepository
from storage.notifications import NotificationLog
from storage.quotas import DailyQuota
from storage.rate_limits import RateLimiter
from storage.revoked_tokens import RevokedTokens
from storage.telemetry import TelemetryBuffer
from storage.user_data import UserData
from storage.visitor_streams import VisitorStreamReader
from storage.wiring import Storage

STREAM_BLOCK_MS = 15_000


class IngressState(Storage):
    authenticator: Authenticator
    hub: SecurityHubClient | None
    kafka: AdminClient
    engine: EngineClient
    readiness: Readiness
    # (channel, config id) → the config a webhook URL names, for tenant_cache_seconds: a
    # provider's stream of webhooks costs one read and one decryption per second, not each.
    webhook_configs: TtlCache[tuple[str, str], ChannelConfig]
    channels: ChannelRuntime
    keys: ApiKeyRepository
    limiter: RateLimiter
    daily_messages: DailyQuota
    revoked_tokens: RevokedTokens
    # The sockets' own Redis client, on the event loop: each blocking stream read holds a
    # connection, so it is not the thread pool's. Closed by the lifespan (``aclose``).
    stream_redis: AsyncRedis
    visitor_reader: VisitorStreamReader
    user_data: UserData
    erasures: ErasureReceipts
    # Erasure's tombstones (storage/user_data.py); every other event goes out from the workers.
    tombstones: EventPublisher
    # The ingress's telemetry (logins, verified webhooks, dependencies' health), kept in memory
    # and queued once a second by the lifespan (storage/telemetry.py).
    observations: TelemetryBuffer
    notification_rules: NotificationRuleRepository
    notification_log: NotificationLog
    admin_audit: AdminAuditLog

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings,
            redis_timeout_seconds=2,
            conversation_cache_seconds=settings.conversation_cache_seconds,
        )
        ensure_indexes(self.db)
        self.keys = ApiKeyRepository(self.db)
        self.revoked_tokens = RevokedTokens(self.redis, settings.jwt_leeway_seconds)
        self.hub = (
            SecurityHubClient(
                settings.security_hub_addr, cache_ttl_seconds=settings.security_hub_cache_seconds
            )
            if settings.security_hub_addr
            else None
        )
        self.authenticator = Authenticator(
            JwtVerifier.from_settings(settings),
            self.keys,
            self.hub,
            settings.security_hub_timeout_seconds,
            settings.security_hub_cache_seconds,
            self.revoked_tokens,
        )
        self.kafka = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
        self.engine = EngineClient(settings.engine_addr)
        self.observations = TelemetryBuffer(self.telemetry)
        self.readiness = Readiness.open(
            settings, self.db, self.kafka, self.engine, on_change=self._health_changed
        )
        self.webhook_configs = TtlCache(settings.tenant_cache_seconds)
        self.channels = runtime_from_settings(settings, self.visitor_streams)
        self.limiter = RateLimiter(self.redis)
        self.daily_messages = DailyQuota(self.redis, "messages")
        self.stream_redis = AsyncRedis.from_url(
            settings.redis_url,
            socket_connect_timeout=2,
            socket_timeout=STREAM_BLOCK_MS / 1000 + 5,  # a blocking read waits its block time
        )
        self.visitor_reader = VisitorStreamReader(self.stream_redis, STREAM_BLOCK_MS)
        self.user_data = UserData(self.db, self.redis, self.blobs)
        self.erasures = ErasureReceipts(self.db, settings.require_master_key())
        self.tombstones = EventPublisher(settings.kafka_bootstrap, client_id="parley-ingress")
        self.notification_rules = NotificationRuleRepository(self.db)
        self.notification_log = NotificationLog(self.db)
        self.admin_audit = AdminAuditLog(self.db)

    def _health_changed(self, component: str, status: str, detail: str) -> None:
        self.observations.add(system_health(component, status, "ingress", detail))

    def close(self) -> None:
        self.readiness.close()
        if self.hub is not None:
            self.hub.close()
        self.channels.close()
        self.engine.close()
        self.tombstones.close()
        super().close()
