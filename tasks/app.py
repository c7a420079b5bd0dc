"""The Celery application; importing it creates no client connections."""

from __future__ import annotations

from celery import Celery
from celery.signals import setup_logging

from core.logs import configure

app = Celery("parley")
app.config_from_object("celeryconfig")
app.conf.include = [
    "tasks.process",
    "tasks.generate",
    "tasks.deliver",
    "tasks.choices",
    "tasks.audit",
    "tasks.maintenance",
    "tasks.webhooks",
    "tasks.telemetry",
    "tasks.log_context",
    "tasks.metrics",
]


@setup_logging.connect
def _logging(loglevel: object = None, **_: object) -> None:
    """Workers and beat log as every Parley process does (core/logs.py), not Celery's way."""
    configure(str(loglevel) if isinstance(loglevel, str) else None)
