"""Parley's reference Security Hub: a real gRPC server validating tokens and checking scopes."""

from services.security_hub.server import main, serve

__all__ = ["main", "serve"]
