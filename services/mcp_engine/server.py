"""Runs the reference MCP engine: a thread-pool gRPC server with the standard health service."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import HealthServicer

from core.errors import ConfigurationError
from core.settings import Settings, get_settings
from protos import mcp_engine_pb2, mcp_engine_pb2_grpc
from services.mcp_engine.backend import Backend
from services.mcp_engine.chooser import BackendChooser
from services.mcp_engine.context_store import ContextStore
from services.mcp_engine.openai_chat import OpenAIChatBackend
from services.mcp_engine.rules import DEFAULT_RULES_FILE, RulesBackend
from services.mcp_engine.servicer import McpEngineServicer

SERVICE_NAME = mcp_engine_pb2.DESCRIPTOR.services_by_name["McpEngine"].full_name
DEFAULT_HOST = "127.0.0.1"
MAX_WORKERS = 16
STOP_GRACE_SECONDS = 5.0

log = logging.getLogger(__name__)


def build_backend(settings: Settings) -> BackendChooser:
    """The backends this engine serves, ready to answer: the one ``settings.engine_backend``
    names answers every turn whose tenant asks for no other, and the other one is served too
    when it can be — openai when an API key is configured, rules when its file loads.

    The configured backend must build (a bad rules file stops the engine); the other one is
    optional: when it cannot be built the engine serves only the configured one, and tenants
    asking for the other are answered by it (``services.mcp_engine.chooser``).
    """
    backends: dict[str, Backend] = {}
    key = settings.openai_api_key
    if settings.engine_backend == "openai" or (key is not None and key.get_secret_value()):
        backends["openai"] = OpenAIChatBackend(
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            api_key=key,
            timeout_seconds=settings.openai_timeout_seconds,
        )
    rules_file = Path(settings.engine_rules_file or DEFAULT_RULES_FILE)
    try:
        backends["rules"] = RulesBackend.from_file(rules_file)
    except ConfigurationError as exc:
        if settings.engine_backend == "rules":
            for backend in backends.values():
                backend.close()
            raise
        log.warning("the rules backend is not served: %s", exc)
    return BackendChooser(settings.engine_backend, backends)


def _start(port: int, backend: Backend, host: str) -> tuple[grpc.Server, HealthServicer]:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="mcp-engine")
    )
    servicer = McpEngineServicer(backend, ContextStore())
    mcp_engine_pb2_grpc.add_McpEngineServicer_to_server(servicer, server)
    health = HealthServicer()
    for service in ("", SERVICE_NAME):
        health.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    address = f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ConfigurationError(f"the MCP engine cannot listen on {address}: {exc}") from None
    if not bound:
        raise ConfigurationError(f"the MCP engine cannot listen on {address}")
    server.start()
    return server, health


def serve(port: int, backend: Backend, *, host: str = DEFAULT_HOST) -> grpc.Server:
    """Starts the engine on ``host:port`` and returns at once; the caller stops the server
    and then closes the backend."""
    server, _ = _start(port, backend, host)
    return server


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m services.mcp_engine``: serve until SIGTERM or SIGINT, then stop gracefully."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = get_settings()
        parser = argparse.ArgumentParser(prog="python -m services.mcp_engine", description=__doc__)
        parser.add_argument("--port", type=int, default=settings.engine_port)
        parser.add_argument("--host", default=DEFAULT_HOST, help="listen address")
        args = parser.parse_args(argv)
        backend = build_backend(settings)
        server, health = _start(args.port, backend, args.host)
    except ConfigurationError as exc:
        sys.exit(f"mcp engine: {exc}")
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    log.info(
        "MCP engine serving on %s:%d (backends: %s; %s unless a tenant asks for another)",
        args.host, args.port, ", ".join(backend.names), backend.default,
    )  # fmt: skip
    stopping.wait()
    log.info("MCP engine stopping")
    health.enter_graceful_shutdown()  # readiness checks see NOT_SERVING while calls drain
    server.stop(STOP_GRACE_SECONDS).wait()
    backend.close()
