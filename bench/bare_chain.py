"""The R2/R3 baseline: a bare four-task Celery chain with Parley's Celery settings.

Same broker, same ``celeryconfig`` (reliability flags, events, prefetch) and, per stage, the
pool and concurrency of ``tasks.queues``; only the queue names differ (``bare.<stage>``), so its
workers can stay up beside Parley's and the two are measured in turns. The tasks do nothing,
except that the ``deliver`` one posts the id to the provider fake, where Parley's replies are
timed too: both pipelines are observed at the same point.
"""

from __future__ import annotations

import os
import threading

import httpx
from celery import Celery, chain
from celery.canvas import Signature
from kombu import Exchange, Queue

from core.stages import NAMES

app = Celery("bench-bare")
app.config_from_object("celeryconfig")
_exchange = Exchange("parley-bare", type="direct")
app.conf.update(
    task_queues=tuple(Queue(f"bare.{s}", _exchange, routing_key=f"bare.{s}") for s in NAMES),
    task_routes={f"bare.{s}": {"queue": f"bare.{s}", "routing_key": f"bare.{s}"} for s in NAMES},
    task_default_queue="bare.process",
    task_default_exchange="parley-bare",
    task_default_routing_key="bare.process",
    beat_schedule={},
)

_local = threading.local()


def _client() -> httpx.Client:
    """One HTTP client per thread of this process, made on first use (after fork)."""
    client: httpx.Client | None = getattr(_local, "client", None)
    if client is None or getattr(_local, "pid", 0) != os.getpid():
        client = _local.client = httpx.Client(timeout=10.0)
        _local.pid = os.getpid()
    return client


@app.task(name="bare.process")
def process(message_id: str) -> str:
    return message_id


@app.task(name="bare.generate")
def generate(message_id: str) -> str:
    return message_id


@app.task(name="bare.deliver")
def deliver(message_id: str) -> str:
    base = os.environ.get("PARLEY_WHATSAPP_API_BASE", "")
    body = {"context": {"message_id": message_id}}
    _client().post(f"{base}/bare/messages", json=body).raise_for_status()
    return message_id


@app.task(name="bare.audit")
def audit(message_id: str) -> str:
    return message_id


_TASKS = (process, generate, deliver, audit)


def turn_chain(message_id: str) -> Signature:
    return chain(*(task.si(message_id) for task in _TASKS))
