"""The Celery application; importing it creates no client connections."""

from __future__ import annotations

from celery import Celery

app = Celery("parley")
app.config_from_object("celeryconfig")
app.conf.include = [
    "tasks.process",
    "tasks.generate",
    "tasks.deliver",
    "tasks.audit",
    "tasks.maintenance",
    "tasks.webhooks",
    "tasks.telemetry",
]
