"""Runs the reference Security Hub over MongoDB on the shared gRPC server start-up
(``protos.grpc_server``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

import grpc
from pymongo.database import Database

from core.errors import ConfigurationError
from core.jwt_verifier import JwtVerifier
from core.logs import configure as configure_logging
from core.settings import Settings, get_settings
from protos import security_hub_pb2, security_hub_pb2_grpc
from protos.grpc_server import DEFAULT_HOST, GrpcServer
from services.security_hub.permissions import PermissionChecker
from services.security_hub.servicer import SecurityHubServicer
from services.security_hub.tokens import TokenValidator
from storage.credentials import ApiKeyRepository
from storage.mongo import connect, database
from storage.tenants import TenantRepository

DEFAULT_PORT = 50052

log = logging.getLogger(__name__)


def build_servicer(db: Database[Any], settings: Settings) -> SecurityHubServicer:
    """The servicer over ``db``'s keys and tenants; fails fast without a JWT secret."""
    keys, tenants = ApiKeyRepository(db), TenantRepository(db)
    verifier = JwtVerifier.from_settings(settings)
    tokens = TokenValidator(keys, tenants, verifier)
    return SecurityHubServicer(tokens, PermissionChecker(keys, tenants))


def _start(port: int, db: Database[Any], settings: Settings, host: str) -> GrpcServer:
    servicer = build_servicer(db, settings)
    return GrpcServer.start(
        "Security Hub",
        security_hub_pb2.DESCRIPTOR.services_by_name["SecurityHub"],
        lambda server: security_hub_pb2_grpc.add_SecurityHubServicer_to_server(servicer, server),
        port,
        host,
    )


def serve(
    port: int, db: Database[Any], settings: Settings, *, host: str = DEFAULT_HOST
) -> grpc.Server:
    """Starts the hub on ``host:port`` and returns at once; the caller stops the server and then
    closes the MongoDB client behind ``db``."""
    return _start(port, db, settings, host).server


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m services.security_hub``: serve until SIGTERM or SIGINT, then stop gracefully."""
    configure_logging()
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
        running = _start(args.port, database(mongo, settings), settings, args.host)
    except ConfigurationError as exc:
        mongo.close()
        sys.exit(f"security hub: {exc}")
    log.info("Security Hub serving on %s:%d", args.host, args.port)
    running.serve_until_signalled()
    mongo.close()
