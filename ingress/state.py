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
from core.settings import Settings
from ingress.auth import TokenVerifier
from protos.engine_client import EngineClient
from storage.channel_configs import ChannelConfigRepository
from storage.conversations import ConversationRepository
from storage.messages import MessageRepository
from storage.mongo import connect, database, ensure_indexes
from storage.turn_order import TurnOrder


@dataclass
class IngressState:
    settings: Settings
    verifier: TokenVerifier
    mongo: MongoClient[Any]
    db: Database[Any]
    redis: Redis
    broker: Redis
    kafka: AdminClient
    engine: EngineClient
    messages: MessageRepository
    conversations: ConversationRepository
    channel_configs: ChannelConfigRepository
    channels: ChannelRuntime
    order: TurnOrder

    @classmethod
    def open(cls, settings: Settings) -> IngressState:
        redis_client = Redis.from_url(settings.redis_url, socket_timeout=2)
        mongo = connect(settings)
        db = database(mongo, settings)
        ensure_indexes(db)
        return cls(
            settings=settings,
            verifier=TokenVerifier(settings.require_jwt_secret(), settings.jwt_leeway_seconds),
            mongo=mongo,
            db=db,
            redis=redis_client,
            broker=Redis.from_url(settings.broker_url, socket_timeout=2),
            kafka=AdminClient({"bootstrap.servers": settings.kafka_bootstrap}),
            engine=EngineClient(settings.engine_addr),
            messages=MessageRepository(db),
            conversations=ConversationRepository(db),
            channel_configs=ChannelConfigRepository(db, SecretBox(settings.require_master_key())),
            channels=runtime_from_settings(settings),
            order=TurnOrder(redis_client),
        )

    def close(self) -> None:
        self.channels.close()
        self.engine.close()
        self.redis.close()
        self.broker.close()
        self.mongo.close()
