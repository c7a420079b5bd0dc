"""Per-process clients for the workers, built after fork and never at import.

A prefork child builds its own on ``worker_process_init``; thread-pool and solo workers build
them lazily on first use. All of these clients are thread-safe, so one set serves every thread.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from celery.signals import worker_init, worker_process_init

from channels.runtime import ChannelRuntime, runtime_from_settings
from channels.webhook_post import webhook_client
from core import tracing
from core.per_process import PerProcess
from core.settings import Settings, get_settings
from protos.engine_client import EngineClient
from storage.audit import AuditRepository
from storage.dead_letters import DeadLetterRepository
from storage.event_sequence import EventSequencer
from storage.kafka_producer import EventPublisher
from storage.leases import Leases
from storage.outbox import OutboxRelay
from storage.pacing import Pacer
from storage.tenants import TenantDirectory
from storage.wiring import Storage
from tasks.calls import breaker_opened, provider_answered


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


class WorkerClients(Storage):
    engine: EngineClient
    events: EventPublisher
    audit: AuditRepository
    channels: ChannelRuntime
    dead_letters: DeadLetterRepository
    relay: OutboxRelay
    leases: Leases
    pacer: Pacer
    engine_settings: TenantEngineSettings
    webhook_http: httpx.Client

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, redis_timeout_seconds=5)
        self.engine = EngineClient(
            settings.engine_addr, on_open=breaker_opened(lambda: self.telemetry)
        )
        self.events = EventPublisher(
            settings.kafka_bootstrap, client_id=f"parley-worker-{os.getpid()}"
        )
        self.audit = AuditRepository(self.db)
        self.channels = runtime_from_settings(
            settings, self.visitor_streams, on_answer=provider_answered
        )
        self.dead_letters = DeadLetterRepository(self.db)
        self.relay = OutboxRelay(self.db, self.events, EventSequencer(self.redis))
        self.leases = Leases(self.redis)
        self.pacer = Pacer(self.redis)
        self.engine_settings = TenantEngineSettings(self.tenants)
        self.webhook_http = webhook_client(
            settings.webhooks_allow_private, settings.webhooks_timeout_seconds
        )

    def close(self) -> None:
        self.webhook_http.close()
        self.channels.close()
        self.events.close()
        self.engine.close()
        super().close()


_clients: PerProcess[WorkerClients] = PerProcess(lambda: WorkerClients(get_settings()))


def clients() -> WorkerClients:
    """This process's clients; rebuilt if the process was forked since they were made."""
    return _clients.get()


@worker_init.connect
def _trace_worker(**_: object) -> None:
    # Before the pool starts: the span exporter's thread is restarted in each forked child.
    tracing.configure("parley-worker")


@worker_process_init.connect
def _open_after_fork(**_: object) -> None:
    clients()


def close_clients() -> None:
    """Close this process's clients, if it made any; the next ``clients()`` builds new ones."""
    made = _clients.discard()
    if made is not None:
        made.close()
