"""Entry point for ``python -m services.security_hub``."""

from services.security_hub.server import main

main()
