"""Entry point for ``python -m services.mcp_engine``."""

from services.mcp_engine.server import main

main()
