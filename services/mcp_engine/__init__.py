"""Parley's reference MCP engine: a real gRPC server answering turns from rules or an LLM."""

from services.mcp_engine.server import main, serve

__all__ = ["main", "serve"]
