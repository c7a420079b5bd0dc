"""Runs the reference Security Hub: a thread-pool gRPC server over MongoDB with the standard
health service."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import HealthServicer
from pymongo.database import Database

from core.errors import ConfigurationError
from core.jwt_verifier import JwtVerifier
from core.settings import Settings, get_settings
from protos import security_hub_pb2, security_hub_pb2_grpc
from services.security_hub.permissions import PermissionChecker
from services.security_hub.servicer import SecurityHubServicer
from services.security_hub.tokens import TokenValidator
from storage.credentials import ApiKeyRepository
from storage.mongo import connect, database
from storage.tenants import TenantRepository

SERVICE_NAME = security_hub_pb2.DESCRIPTOR.services_by_name["SecurityHub"].full_name
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50052
MAX_WORKERS = 16
STOP_GRACE_SECONDS = 5.0

log = logging.getLogger(__name__)


def build_servicer(db: Database[Any], settings: Settings) -> SecurityHubServicer:
    """The servicer over ``db``'s keys and tenants; fails fast without a JWT secret."""
    keys, tenants = ApiKeyRepository(db), TenantRepository(db)
    verifier = JwtVerifier.from_settings(settings)
    tokens = TokenValidator(keys, tenants, verifier)
    return SecurityHubServicer(tokens, PermissionChecker(keys, tenants))


def _start(
    port: int, db: Database[Any], settings: Settings, host: str
) -> tuple[grpc.Server, HealthServicer]:
    servicer = build_servicer(db, settings)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="security-hub")
    )
    security_hub_pb2_grpc.add_SecurityHubServicer_to_server(servicer, server)
    health = HealthServicer()
    for service in ("", SERVICE_NAME):
        health.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    address = f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ConfigurationError(f"the Security Hub cannot listen on {address}: {exc}") from None
    if not bound:
        raise ConfigurationError(f"the Security Hub cannot listen on {address}")
    server.start()
    return server, health


def serve(
    port: int, db: Database[Any], settings: Settings, *, host: str = DEFAULT_HOST
) -> grpc.Server:
    """Starts the hub on ``host:port`` and returns at once; the caller stops the server and then
    closes the MongoDB client behind ``db``."""
    server, _ = _start(port, db, settings, host)
    return server


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m services.security_hub``: serve until SIGTERM or SIGINT, then stop gracefully."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = get_settings()
        parser = argparse.ArgumentParser(
            prog="python -m services.security_hub", description=__doc__
        )
        parser.add_argument("--port", type=int, default=DEFAULT_PORT)
        parser.add_argument("--host", default=DEFAULT_HOST, help="listen address")
        args = parser.parse_args(argv)
        settings.require_jwt_secret()  # before any connection is opened
    except ConfigurationError as exc:
        sys.exit(f"security hub: {exc}")
    # Connects lazily: with MongoDB down the hub still starts and answers UNAVAILABLE.
    mongo = connect(settings)
    try:
        server, health = _start(args.port, database(mongo, settings), settings, args.host)
    except ConfigurationError as exc:
        mongo.close()
        sys.exit(f"security hub: {exc}")
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    log.info("Security Hub serving on %s:%d", args.host, args.port)
    stopping.wait()
    log.info("Security Hub stopping")
    health.enter_graceful_shutdown()  # readiness checks see NOT_SERVING while calls drain
    server.stop(STOP_GRACE_SECONDS).wait()
    mongo.close()
