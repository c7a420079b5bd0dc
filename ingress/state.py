"""What the ingress holds for its lifetime: clients built in the lifespan, not at import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka.admin import AdminClient
from pymongo import MongoClient
from pymongo.database import Database
from redis import Redis

from channels.runtime import ChannelRuntime, runtime_from_settings
from core.crypto import SecretBox
from core.envelopes import ChannelConfig
from core.jwt_verifier import JwtVerifier
from core.settings import Settings
from core.ttl_cache import TtlCache
from ingress.auth import Authenticator
from ingress.readiness import Readiness
from protos.engine_client import EngineClient
from protos.security_hub_client import SecurityHubClient
from storage.channel_configs import ChannelConfigRepository
from storage.conversations import ConversationRepository
from storage.credentials import ApiKeyRepository
from storage.messages import MessageRepository
from storage.mongo import connect, database, ensure_indexes
from storage.provider_reports import ProviderReports
from storage.quotas import DailyQuota
from storage.rate_limits import RateLimiter
from storage.revoked_tokens import RevokedTokens
from storage.tenants import TenantDirectory, TenantRepository
from storage.turn_order import TurnOrder


@dataclass
class IngressState:
    settings: Settings
    authenticator: Authenticator
    hub: SecurityHubClient | None
    mongo: MongoClient[Any]
    db: Database[Any]
    redis: Redis
    broker: Redis
    kafka: AdminClient
    engine: EngineClient
    readiness: Readiness
    messages: MessageRepository
    conversations: ConversationRepository
    channel_configs: ChannelConfigRepository
    # (channel, config id) → the config a webhook URL names, for tenant_cache_seconds: a
    # provider's stream of webhooks costs one read and one decryption per second, not each.
    webhook_configs: TtlCache[tuple[str, str], ChannelConfig]
    channels: ChannelRuntime
    order: TurnOrder
    reports: ProviderReports
    keys: ApiKeyRepository
    tenant_records: TenantRepository
    tenants: TenantDirectory
    limiter: RateLimiter
    daily_messages: DailyQuota
    revoked_tokens: RevokedTokens

    @classmethod
    def open(cls, settings: Settings) -> IngressState:
        redis_client = Redis.from_url(settings.redis_url, socket_timeout=2)
        mongo = connect(settings)
        db = database(mongo, settings)
        ensure_indexes(db)
        keys, tenant_records = ApiKeyRepository(db), TenantRepository(db)
        revoked_tokens = RevokedTokens(redis_client, settings.jwt_leeway_seconds)
        hub = (
            SecurityHubClient(
                settings.security_hub_addr, cache_ttl_seconds=settings.security_hub_cache_seconds
            )
            if settings.security_hub_addr
            else None
        )
        tokens = JwtVerifier.from_settings(settings)
        kafka = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
        engine = EngineClient(settings.engine_addr)
        return cls(
            settings=settings,
            authenticator=Authenticator(
                tokens,
                keys,
                hub,
                settings.security_hub_timeout_seconds,
                settings.security_hub_cache_seconds,
                revoked_tokens,
            ),
            hub=hub,
            mongo=mongo,
            db=db,
            redis=redis_client,
            broker=Redis.from_url(settings.broker_url, socket_timeout=2),
            kafka=kafka,
            engine=engine,
            readiness=Readiness.open(settings, db, kafka, engine),
            messages=MessageRepository(db),
            conversations=ConversationRepository(db, settings.conversation_cache_seconds),
            channel_configs=ChannelConfigRepository(db, SecretBox(settings.require_master_key())),
            webhook_configs=TtlCache(settings.tenant_cache_seconds),
            channels=runtime_from_settings(settings),
            order=TurnOrder(redis_client),
            reports=ProviderReports(redis_client),
            keys=keys,
            tenant_records=tenant_records,
            tenants=TenantDirectory(tenant_records, settings.tenant_cache_seconds),
            limiter=RateLimiter(redis_client),
            daily_messages=DailyQuota(redis_client, "messages"),
            revoked_tokens=revoked_tokens,
        )

    def close(self) -> None:
        self.readiness.close()
        if self.hub is not None:
            self.hub.close()
        self.channels.close()
        self.engine.close()
        self.redis.close()
        self.broker.close()
        self.mongo.close()
