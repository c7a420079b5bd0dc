"""The start-up every Parley gRPC server shares: a thread pool, the standard health service
(SERVING for the whole server and its service), the port binding, and a graceful stop on SIGTERM
or SIGINT that reports NOT_SERVING while in-flight calls drain."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import HealthServicer

from core.errors import ConfigurationError
from protos.request_ids import RequestIdInterceptor

DEFAULT_HOST = "127.0.0.1"
MAX_WORKERS = 16
STOP_GRACE_SECONDS = 5.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GrpcServer:
    """A started server and its health service; ``name`` is what logs and errors call it."""

    name: str
    server: grpc.Server
    health: HealthServicer

    @classmethod
    def start(
        cls,
        name: str,
        service: ServiceDescriptor,
        add_servicer: Callable[[grpc.Server], None],
        port: int,
        host: str = DEFAULT_HOST,
    ) -> GrpcServer:
        """Serves ``add_servicer``'s servicer and the health service on ``host:port``; raises
        ConfigurationError when the address cannot be bound."""
        pool = futures.ThreadPoolExecutor(
            max_workers=MAX_WORKERS, thread_name_prefix=name.lower().replace(" ", "-")
        )
        server = grpc.server(pool, interceptors=[RequestIdInterceptor()])
        add_servicer(server)
        health = HealthServicer()
        for served in ("", service.full_name):  # "" is the whole server
            health.set(served, health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        address = f"{host}:{port}"
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise ConfigurationError(f"the {name} cannot listen on {address}: {exc}") from None
        if not bound:
            raise ConfigurationError(f"the {name} cannot listen on {address}")
        server.start()
        return cls(name, server, health)

    def serve_until_signalled(self) -> None:
        """Blocks until SIGTERM or SIGINT, then stops gracefully (call it from the main thread)."""
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        stopping.wait()
        log.info("%s stopping", self.name)
        self.health.enter_graceful_shutdown()  # readiness checks see NOT_SERVING while calls drain
        self.server.stop(STOP_GRACE_SECONDS).wait()
