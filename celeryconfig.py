"""Every Celery setting Parley uses, each non-default one with the reason it is set.

Workers and the ingress both load this module (``app.config_from_object("celeryconfig")``).
"""

from __future__ import annotations

from datetime import timedelta

from kombu import Exchange, Queue

from core.settings import get_settings
from core.stages import CHAIN, DELIVER, PROCESS
from tasks.queues import MAINTENANCE, QUEUES, WEBHOOKS

_settings = get_settings()

# Transport: Redis as broker (the same server that holds sessions, a separate database).
broker_url = _settings.broker_url
# Keep retrying the broker at start-up instead of crashing (a pod restart is slower).
broker_connection_retry_on_startup = True
# An unacked task is redelivered after this; longer than any task with its retries.
broker_transport_options = {"visibility_timeout": 3600}

# Results are not stored: MongoDB is the source of truth and tasks pass ids, not results.
task_ignore_result = True
result_backend = None

# JSON only: arguments are ids and small scalars, and pickle would be a code-execution risk.
task_serializer = "json"
accept_content = ["json"]
event_serializer = "json"

# Ack after the task finishes, so a worker that dies mid-task leaves the message to be redelivered.
task_acks_late = True
# ...and when the worker process is killed (OOM, SIGKILL), requeue instead of acking.
task_reject_on_worker_lost = True
# A worker that loses the broker stops its running tasks (they are redelivered) rather than
# finishing them and failing to ack, which would make them run twice.
worker_cancel_long_running_tasks_on_connection_loss = True
# One message at a time per process: tasks are long relative to the broker round trip, and
# prefetched messages would wait behind a slow one instead of going to an idle worker.
worker_prefetch_multiplier = 1
# No task-sent event: every publish (the ingress's chain, each stage handing the turn on) would
# send one more message to the broker, a third of the ingress's publish (bench/HISTORY.md,
# "What the ingress spends"). Flower shows a task from its worker's received, started and
# succeeded events; what waits unreceived is the queues' depth (docs/metrics.md).
task_send_sent_event = False
# The started state, so Flower shows a task running.
task_track_started = True
worker_send_task_events = True
# A hard ceiling per task on the prefork pools (process, maintenance). Thread pools (generate,
# deliver, audit) cannot interrupt a thread, so there every blocking call carries its own bound
# instead: MongoDB's timeouts (storage/mongo.py), Redis socket timeouts (tasks/runtime.py), the
# engine's gRPC deadline, httpx timeouts on every provider call, Kafka flush timeouts.
task_time_limit = 300
task_soft_time_limit = 240
# Recycle prefork children now and then so a slow leak cannot grow without bound.
worker_max_tasks_per_child = 10000
# Times in UTC everywhere.
enable_utc = True
timezone = "UTC"

_exchange = Exchange("parley", type="direct")
task_queues = tuple(Queue(name, _exchange, routing_key=name) for name in QUEUES)
task_default_queue = PROCESS.queue
task_default_exchange = "parley"
task_default_routing_key = PROCESS.queue
# Each stage on its own queue so each scales on its own.
task_routes = {
    **{stage.task: {"queue": stage.queue, "routing_key": stage.queue} for stage in CHAIN},
    # A click shown on the clicked message (tasks/choices.py) waits on the provider, as a send.
    "parley.show_choice": {"queue": DELIVER.queue, "routing_key": DELIVER.queue},
    "parley.webhooks.*": {"queue": WEBHOOKS, "routing_key": WEBHOOKS},
    "parley.maintenance.*": {"queue": MAINTENANCE, "routing_key": MAINTENANCE},
}

# Beat jobs on the maintenance queue.
beat_schedule = {
    "reconcile": {"task": "parley.maintenance.reconcile", "schedule": timedelta(seconds=10)},
    "relay-outbox": {"task": "parley.maintenance.relay_outbox", "schedule": timedelta(seconds=5)},
    # The telemetry queue (storage/telemetry.py) and the dependencies' health (tasks/telemetry.py).
    "relay-telemetry": {
        "task": "parley.maintenance.relay_telemetry",
        "schedule": timedelta(seconds=5),
    },
    "check-health": {"task": "parley.maintenance.check_health", "schedule": timedelta(seconds=15)},
    "release-idempotency-keys": {
        "task": "parley.maintenance.release_idempotency_keys",
        "schedule": timedelta(minutes=10),
    },
    # Idle timeouts are minutes long; a minute late is precise enough.
    "close-idle-conversations": {
        "task": "parley.maintenance.close_idle_conversations",
        "schedule": timedelta(minutes=1),
    },
    # Outbound webhook deliveries whose task was lost (tasks/webhooks.py): a minute late at most.
    "redrive-webhooks": {
        "task": "parley.maintenance.redrive_webhooks",
        "schedule": timedelta(minutes=1),
    },
    # Tenants' data retention (days): hourly is precise enough, and each sweep scans.
    "apply-retention": {
        "task": "parley.maintenance.apply_retention",
        "schedule": timedelta(hours=1),
    },
}
