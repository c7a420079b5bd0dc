"""Per-process clients for the workers, built after fork and never at import.

A prefork child builds its own on ``worker_process_init``; thread-pool and solo workers build
them lazily on first use. All of these clients are thread-safe, so one set serves every thread.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown
from pymongo import MongoClient
from pymongo.database import Database
from redis import Redis

from channels.runtime import ChannelRuntime, runtime_from_settings
from core.crypto import SecretBox
from core.settings import Settings, get_settings
from protos.engine_client import EngineClient
from storage.audit import AuditRepository
from storage.channel_configs import ChannelConfigRepository
from storage.conversations import ConversationRepository
from storage.dead_letters import DeadLetterRepository
from storage.kafka_producer import EventPublisher
from storage.leases import Leases
from storage.messages import MessageRepository
from storage.mongo import connect, database
from storage.outbox import OutboxRelay
from storage.pacing import Pacer
from storage.provider_reports import ProviderReports
from storage.sessions import SessionStore
from storage.tenants import TenantDirectory, TenantRepository
from storage.turn_order import TurnOrder


class TenantEngineSettings:
    """Each tenant's stored ``engine`` settings, from the same short in-process cache the
    ingress reads tenants through (``TenantDirectory``): a turn costs no MongoDB read, and a
    change made with the admin API reaches the engine within the directory's ttl, without
    restarts.
    A tenant with no record or no settings gets ``{}``."""

    def __init__(self, directory: TenantDirectory) -> None:
        self._directory = directory

    def get(self, tenant_id: str) -> dict[str, Any]:
        return dict(self._directory.status(tenant_id).engine)


@dataclass
class WorkerClients:
    settings: Settings
    mongo: MongoClient[Any]
    db: Database[Any]
    redis: Redis
    broker: Redis  # the broker's own database, for queue lengths
    engine: EngineClient
    events: EventPublisher
    messages: MessageRepository
    conversations: ConversationRepository
    sessions: SessionStore
    audit: AuditRepository
    channel_configs: ChannelConfigRepository
    channels: ChannelRuntime
    dead_letters: DeadLetterRepository
    relay: OutboxRelay
    leases: Leases
    pacer: Pacer
    order: TurnOrder
    reports: ProviderReports
    engine_settings: TenantEngineSettings

    @classmethod
    def build(cls, settings: Settings) -> WorkerClients:
        mongo = connect(settings)
        db = database(mongo, settings)
        redis_client = Redis.from_url(
            settings.redis_url, socket_timeout=5, socket_connect_timeout=5
        )
        events = EventPublisher(settings.kafka_bootstrap, client_id=f"parley-worker-{os.getpid()}")
        return cls(
            settings=settings,
            mongo=mongo,
            db=db,
            redis=redis_client,
            broker=Redis.from_url(settings.broker_url, socket_timeout=5, socket_connect_timeout=5),
            engine=EngineClient(settings.engine_addr),
            events=events,
            messages=MessageRepository(db),
            conversations=ConversationRepository(db),
            sessions=SessionStore(redis_client, settings.session_ttl_seconds),
            audit=AuditRepository(db),
            channel_configs=ChannelConfigRepository(db, SecretBox(settings.require_master_key())),
            channels=runtime_from_settings(settings),
            dead_letters=DeadLetterRepository(db),
            relay=OutboxRelay(db, events),
            leases=Leases(redis_client),
            pacer=Pacer(redis_client),
            order=TurnOrder(redis_client),
            reports=ProviderReports(redis_client),
            engine_settings=TenantEngineSettings(
                TenantDirectory(TenantRepository(db), settings.tenant_cache_seconds)
            ),
        )

    def close(self) -> None:
        self.channels.close()
        self.events.close()
        self.engine.close()
        self.redis.close()
        self.broker.close()
        self.mongo.close()


_lock = threading.Lock()
_clients: WorkerClients | None = None
_owner_pid = 0


def clients() -> WorkerClients:
    """This process's clients; rebuilt if the process was forked since they were made."""
    global _clients, _owner_pid
    with _lock:
        if _clients is None or _owner_pid != os.getpid():
            _clients = WorkerClients.build(get_settings())
            _owner_pid = os.getpid()
        return _clients


@worker_process_init.connect
def _open_after_fork(**_: object) -> None:
    clients()


def close_clients() -> None:
    """Close this process's clients, if it made any; the next ``clients()`` builds new ones."""
    global _clients
    with _lock:
        if _clients is not None and _owner_pid == os.getpid():
            _clients.close()
            _clients = None


@worker_process_shutdown.connect
def _close_on_exit(**_: object) -> None:
    close_clients()
