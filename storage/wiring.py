"""The storage clients and repositories one process holds: written once for the ingress and the
workers, each of which builds its own after fork (the ingress in its lifespan, a worker on
``worker_process_init``), never at import.

The ingress state and the workers' clients extend it with what only they use.
"""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient
from pymongo.database import Database
from redis import Redis

from core.crypto import SecretBox
from core.settings import Settings
from storage.blobs import BlobStore
from storage.channel_configs import ChannelConfigRepository
from storage.conversations import ConversationRepository
from storage.messages import MessageRepository
from storage.mongo import connect, database
from storage.provider_reports import ProviderReports
from storage.round_trips import counted_redis
from storage.sessions import SessionStore
from storage.telemetry import Telemetry
from storage.templates import TemplateRepository
from storage.tenants import TenantDirectory, TenantRepository
from storage.turn_order import TurnOrder
from storage.uploads import UploadRepository
from storage.visitor_streams import VisitorStreams
from storage.webhook_deliveries import WebhookDeliveryRepository
from storage.webhook_subscriptions import WebhookSubscriptionRepository
from storage.widgets import WidgetRepository


class Storage:
    settings: Settings
    mongo: MongoClient[Any]
    db: Database[Any]
    redis: Redis
    broker: Redis  # the broker's own database, for queue lengths
    messages: MessageRepository
    conversations: ConversationRepository
    sessions: SessionStore
    channel_configs: ChannelConfigRepository
    order: TurnOrder
    reports: ProviderReports
    tenant_records: TenantRepository
    tenants: TenantDirectory
    visitor_streams: VisitorStreams
    widgets: WidgetRepository
    uploads: UploadRepository
    blobs: BlobStore
    webhook_subscriptions: WebhookSubscriptionRepository
    webhook_deliveries: WebhookDeliveryRepository
    telemetry: Telemetry
    templates: TemplateRepository

    def __init__(
        self,
        settings: Settings,
        *,
        redis_timeout_seconds: float,
        conversation_cache_seconds: float = 0.0,
    ) -> None:
        self.settings = settings
        self.mongo = connect(settings)
        self.db = database(self.mongo, settings)
        self.redis = _redis(settings.redis_url, redis_timeout_seconds)
        self.broker = _redis(settings.broker_url, redis_timeout_seconds)
        self.messages = MessageRepository(self.db)
        self.conversations = ConversationRepository(self.db, conversation_cache_seconds, self.redis)
        self.sessions = SessionStore(self.redis, settings.session_ttl_seconds)
        box = SecretBox(settings.require_master_key())
        self.channel_configs = ChannelConfigRepository(self.db, box)
        self.order = TurnOrder(self.redis)
        self.reports = ProviderReports(self.redis)
        self.tenant_records = TenantRepository(self.db)
        self.tenants = TenantDirectory(self.tenant_records, settings.tenant_cache_seconds)
        self.visitor_streams = VisitorStreams(self.redis)
        self.widgets = WidgetRepository(self.db, box)
        self.uploads = UploadRepository(self.db)
        self.blobs = BlobStore(self.db)
        self.webhook_subscriptions = WebhookSubscriptionRepository(self.db, box)
        self.webhook_deliveries = WebhookDeliveryRepository(self.db, self.redis)
        self.telemetry = Telemetry(self.redis)
        self.templates = TemplateRepository(self.db)

    def close(self) -> None:
        self.redis.close()
        self.broker.close()
        self.mongo.close()


def _redis(url: str, timeout_seconds: float) -> Redis:
    return counted_redis(
        Redis.from_url(url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds)
    )
