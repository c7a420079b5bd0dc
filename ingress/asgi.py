"""The ASGI entry point uvicorn imports: ``ingress.asgi:app``."""

from __future__ import annotations

from core.logs import configure
from ingress.app import create_app

configure()
app = create_app()
