"""Entry point for ``python -m services.analytics_engine``."""

from services.analytics_engine.server import main

main()
