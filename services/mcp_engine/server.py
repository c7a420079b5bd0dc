"""Runs the reference MCP engine on the shared gRPC server start-up (``protos.grpc_server``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc

from core import tracing
from core.errors import ConfigurationError
from core.logs import configure as configure_logging
from core.settings import Settings, get_settings
from protos import mcp_engine_pb2, mcp_engine_pb2_grpc
from protos.grpc_server import DEFAULT_HOST, GrpcServer
from services.mcp_engine.backend import Backend
from services.mcp_engine.chooser import BackendChooser
from services.mcp_engine.context_store import ContextStore
from services.mcp_engine.openai_chat import OpenAIChatBackend
from services.mcp_engine.rules import DEFAULT_RULES_FILE, RulesBackend
from services.mcp_engine.servicer import McpEngineServicer

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
            reply_parts=settings.openai_reply_parts,
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


def _start(port: int, backend: Backend, host: str) -> GrpcServer:
    servicer = McpEngineServicer(backend, ContextStore())
    return GrpcServer.start(
        "MCP engine",
        mcp_engine_pb2.DESCRIPTOR.services_by_name["McpEngine"],
        lambda server: mcp_engine_pb2_grpc.add_McpEngineServicer_to_server(servicer, server),
        port,
        host,
    )


def serve(port: int, backend: Backend, *, host: str = DEFAULT_HOST) -> grpc.Server:
    """Starts the engine on ``host:port`` and returns at once; the caller stops the server
    and then closes the backend."""
    return _start(port, backend, host).server


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m services.mcp_engine``: serve until SIGTERM or SIGINT, then stop gracefully."""
    configure_logging()
    try:
        settings = get_settings()
        parser = argparse.ArgumentParser(prog="python -m services.mcp_engine", description=__doc__)
        parser.add_argument("--port", type=int, default=settings.engine_port)
        parser.add_argument("--host", default=DEFAULT_HOST, help="listen address")
        args = parser.parse_args(argv)
        backend = build_backend(settings)
        tracing.configure("parley-engine")  # before the server exists: its calls get spans
        running = _start(args.port, backend, args.host)
    except ConfigurationError as exc:
        sys.exit(f"mcp engine: {exc}")
    log.info(
        "MCP engine serving on %s:%d (backends: %s; %s unless a tenant asks for another)",
        args.host, args.port, ", ".join(backend.names), backend.default,
    )  # fmt: skip
    running.serve_until_signalled()
    backend.close()
