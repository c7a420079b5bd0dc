"""Beat jobs on the ``maintenance`` queue: the reconciler, the outbox relay, key release,
retention and closing idle conversations."""

from __future__ import annotations

import logging
from datetime import timedelta

from core.stages import CHAIN
from core.states import Status
from core.timeutil import utcnow
from storage.documents import StuckTurn
from storage.outbox import PENDING_COLLECTION
from storage.retention import EventStoreRetention, RetentionSweeper
from tasks import metrics
from tasks.app import app
from tasks.backlog import queue_length
from tasks.conversations import close_idle
from tasks.ordering import REDRIVE_PATIENCE, claim_redrive, nudge
from tasks.redrive import redrive
from tasks.runtime import clients

log = logging.getLogger("parley.tasks.maintenance")

# Which stage re-drives a turn whose inbound message is stuck in a status.
STAGE_FOR = {stage.before: stage.name for stage in CHAIN}


BACKLOG_PATIENCE = REDRIVE_PATIENCE  # see ``reconcile``


@app.task(name="parley.maintenance.reconcile")
def reconcile(limit: int = 500) -> int:
    """Re-drive turns that made no progress for a while and are not waiting for a due retry:
    lost with a broker that dropped its queues, or held by a worker that died.

    A turn parked behind an earlier turn of its conversation is waiting, not stuck: it is never
    re-driven, only woken when nothing is ahead of it any more (its hand-over was lost, see
    tasks/ordering.py). A turn is also quiet while its task waits behind a backlog, and
    re-driving it then only adds copies to the backlog, so while the stage's queue holds
    messages only turns quiet ``BACKLOG_PATIENCE`` times longer are re-driven. Each re-drive of
    a turn from a stage is claimed in Redis for as long, so two reconcilers (or two runs) never
    re-drive it twice."""
    c = clients()
    now = utcnow()
    after = c.settings.reconcile_after_seconds
    cutoff = now - timedelta(seconds=after)
    patient_cutoff = now - timedelta(seconds=after * BACKLOG_PATIENCE)
    stuck = c.messages.stuck(list(STAGE_FOR), cutoff, now, limit)
    stages = [STAGE_FOR[Status(message["status"])] for message in stuck]
    parked = c.order.parked(
        (m["tenant_id"], m["conversation_id"], stage, m["_id"])
        for m, stage in zip(stuck, stages, strict=True)
    )
    backlog = {stage: queue_length(c.broker, stage) for stage in set(STAGE_FOR.values())}
    waiting: set[tuple[str, str, str]] = set()
    claimed: list[tuple[str, StuckTurn]] = []
    for message, stage, is_parked in zip(stuck, stages, parked, strict=True):
        if is_parked:
            waiting.add((message["tenant_id"], message["conversation_id"], stage))
            continue
        if backlog[stage] and message["updated_at"] >= patient_cutoff:
            continue
        if claim_redrive(c, message["tenant_id"], message["_id"], stage):
            claimed.append((stage, message))
    for tenant_id, conversation_id, stage in sorted(waiting):
        nudge(c, tenant_id, conversation_id, stage)
    # Rebuild every claimed turn's place in its conversation's order (lost if Redis lost its
    # data) before any of them moves, so none overtakes an earlier one.
    for _, message in claimed:
        c.order.open(message["tenant_id"], message["conversation_id"], message["_id"])
    for stage, message in claimed:
        metrics.REDRIVES.labels(stage).inc()
        c.messages.note_redrive(message["tenant_id"], message["_id"])
        redrive(stage, message["tenant_id"], message["_id"])
    if claimed:
        log.warning("reconciler re-drove %d stuck turn(s)", len(claimed))
    return len(claimed)


@app.task(name="parley.maintenance.relay_outbox")
def relay_outbox(limit: int = 500) -> int:
    """Publish outbox events the audit stage could not (Kafka down, a crash in between)."""
    c = clients()
    metrics.OUTBOX_BACKLOG.labels(PENDING_COLLECTION).set(c.relay.pending.backlog())
    return c.relay.relay(
        # Younger events are the audit stage's to publish; taking them too would only
        # publish them twice (harmless to consumers, who dedupe by id, but wasteful).
        older_than_seconds=20.0,
        limit=limit,
        timeout=c.settings.kafka_publish_timeout_seconds * 3,
    )


@app.task(name="parley.maintenance.release_idempotency_keys")
def release_idempotency_keys(batch: int = 1000) -> int:
    """Free ``Idempotency-Key`` values older than the window, so a client may use them again."""
    c = clients()
    cutoff = utcnow() - timedelta(seconds=c.settings.idempotency_ttl_seconds)
    return c.messages.release_idempotency_keys(cutoff, batch)


@app.task(name="parley.maintenance.apply_retention")
def apply_retention() -> int:
    """Delete each tenant's data older than its ``retention_days``, and the event stores' and
    audit trail's past their settings; returns messages deleted."""
    c = clients()
    stores = EventStoreRetention(
        event_log_days=c.settings.retention_event_log_days,
        processed_events_days=c.settings.retention_processed_events_days,
        webhook_deliveries_days=c.settings.retention_webhook_deliveries_days,
        audit_days=c.settings.retention_audit_days,
    )
    run = RetentionSweeper(c.db, stores).sweep_all()
    for each in run.tenants:
        if each.messages or each.conversations or each.blobs or each.uploads:
            log.info(
                "retention for %s: %d message(s), %d conversation(s), %d audit record(s), "
                "%d dead letter(s), %d blob(s), %d upload(s) deleted",
                each.tenant_id,
                each.messages,
                each.conversations,
                each.audit,
                each.dead_letters,
                each.blobs,
                each.uploads,
            )
    for tenant_id, counts in run.event_stores.items():
        log.info("retention of the event stores for %s: %s", tenant_id, counts)
    return sum(each.messages for each in run.tenants)


@app.task(name="parley.maintenance.close_idle_conversations")
def close_idle_conversations(limit: int = 200) -> int:
    """Close conversations silent past their tenant's timeout, at most ``limit`` a pass, and
    publish their ``chat.conversation.ended`` at once (the relay would, later)."""
    c = clients()
    closed = close_idle(c, limit)
    if closed:
        c.relay.publish_documents(closed, timeout=c.settings.kafka_publish_timeout_seconds)
        log.info("closed %d idle conversation(s)", len(closed))
    return len(closed)
