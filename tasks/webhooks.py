"""Outbound webhooks: events fanned out to the tenants' subscriptions and sent signed, retried,
in order per endpoint and conversation.

``fan_out(event)`` is what the event consumer calls with each CloudEvent (as
``CloudEvent.to_dict()`` writes it): one delivery per matching active subscription, inserted
once however often the event arrives, and its first attempt queued on ``webhooks``.

One attempt (``send_webhook``): the delivery is re-read; a stale task (the attempt was made,
or the delivery is settled) does nothing. A delivery waits while an earlier one of its
subscription and conversation is still to be sent (storage/webhook_deliveries.py), and is
queued again by that one once it is delivered or dead. A 2xx delivers; anything else is
retried after the next delay of ``PARLEY_WEBHOOKS_RETRY_SCHEDULE``, and past the last one the
delivery is dead. An endpoint failing without a success for longer than
``PARLEY_WEBHOOKS_DISABLE_AFTER_SECONDS``, or answering 410 Gone, is disabled and
``on_endpoint_disabled`` runs.

Celery is transport: ``redrive_webhooks`` (beat, every minute) queues every delivery whose
attempt is overdue, so a lost task, an enqueue that failed, or a hand-over whose worker died
delays a delivery by a minute or so instead of losing it. Retries more than
``MAX_COUNTDOWN_SECONDS`` away are not queued with a countdown at all: the re-drive queues them
when due.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from channels.webhook_post import WebhookUnreachable, post_signed
from core import addresses
from core.addresses import AddressRefused
from core.errors import Conflict
from core.system_events import ENDPOINT_DISABLED, system_error
from core.timeutil import as_utc, utcnow
from core.webhook_signatures import headers as signed_headers
from storage.webhook_deliveries import (
    DEAD,
    DELIVERED,
    FAILED,
    OPEN_STATUSES,
    DeliveryDocument,
    WebhookDeliveryRepository,
)
from storage.webhook_subscriptions import (
    ACTIVE,
    SubscriptionDocument,
    WebhookSubscriptionRepository,
)
from storage.wiring import Storage
from tasks.app import app
from tasks.errors import MalformedEvent
from tasks.runtime import WorkerClients, clients

log = logging.getLogger("parley.tasks.webhooks")

SEND_TASK = "parley.webhooks.send"
QUEUE = "webhooks"
# A delivery whose attempt is this overdue is queued again by the re-drive (which runs as often).
REDRIVE_AFTER = timedelta(seconds=60)
GONE = 410
# As for the chain's retries: a countdown past the broker's visibility timeout (an hour) would
# be delivered again while it waits, so a wait longer than this is left to the re-drive.
MAX_COUNTDOWN_SECONDS = 300


def endpoint_problem(url: str, allow_private: bool) -> str | None:
    """Why ``url`` cannot be a webhook endpoint, or None: https on a host whose addresses are
    all public, unless development allows http and private hosts. Resolves the host."""
    parts = urlsplit(url)
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        return "the URL must be " + ("http(s)" if allow_private else "https") + " with a host"
    if parts.username or parts.password:
        return "the URL must not carry credentials"
    if allow_private:
        return None
    try:
        addresses.public(parts.hostname, parts.port or 443)
    except AddressRefused as exc:
        return str(exc)
    except ValueError:  # a port out of range
        return "the URL's port is not valid"
    return None


def fan_out(event: Mapping[str, Any], storage: Storage | None = None) -> int:
    """Create and queue the deliveries of one CloudEvent; how many were new (0 for an event
    fanned out before). ``MalformedEvent`` (permanent: park the event) if it has no ``id``,
    ``type`` or ``tenantid``. Raises MongoDB's or the broker's errors when they fail: call it
    again, it is idempotent, and a delivery made before the failure is queued by the
    re-drive. ``storage``: the caller's own clients (a consumer's ``storage.wiring.Storage``);
    by default this process's worker clients."""
    missing = [name for name in ("id", "type", "tenantid") if not event.get(name)]
    if missing:
        raise MalformedEvent(f"the event has no {', '.join(missing)}")
    c = storage or clients()
    tenant_id, event_type = str(event["tenantid"]), str(event["type"])
    payload = json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=str)
    created = 0
    for subscription in c.webhook_subscriptions.matching(tenant_id, event_type):
        doc = c.webhook_deliveries.create(
            tenant_id=tenant_id,
            subscription_id=subscription["_id"],
            event_id=str(event["id"]),
            event_type=event_type,
            conversation_id=str(event.get("partitionkey") or "") or None,
            payload=payload,
        )
        if doc is not None:
            created += 1
            _enqueue(doc, countdown=c.settings.webhook_retry_delays[0])
    return created


def _enqueue(doc: DeliveryDocument, countdown: float = 0.0, attempt: int | None = None) -> None:
    """Queue the delivery's next attempt (``attempt``: its number, if ``doc`` predates the last)."""
    attempt = attempt or len(doc["attempts"]) + 1
    send_webhook.apply_async(
        (doc["tenant_id"], doc["_id"], attempt), countdown=countdown, queue=QUEUE
    )


@app.task(name=SEND_TASK)
def send_webhook(tenant_id: str, webhook_id: str, attempt: int) -> str:
    """Make attempt number ``attempt`` of the delivery, if it is still the one to make."""
    attempt_delivery(clients(), webhook_id, attempt)
    return webhook_id


def attempt_delivery(c: WorkerClients, webhook_id: str, attempt: int) -> None:
    deliveries, subscriptions = c.webhook_deliveries, c.webhook_subscriptions
    doc = deliveries.find(webhook_id)
    if doc is None or doc["status"] not in OPEN_STATUSES or len(doc["attempts"]) + 1 != attempt:
        return  # settled, or this attempt was made already: a duplicate or stale task
    subscription = subscriptions.find(doc["tenant_id"], doc["subscription_id"])
    if subscription is None or subscription["status"] != ACTIVE:
        deliveries.give_up(
            doc,
            "the subscription was deleted"
            if subscription is None
            else "the subscription is disabled",
        )
        _hand_over(deliveries, doc)
        return
    blocker = deliveries.blocker(doc)
    if blocker is not None:
        # The blocker queues this one when it settles; until then the re-drive may wait too.
        deliveries.postpone(doc, max(as_utc(blocker["next_attempt_at"]), utcnow()) + REDRIVE_AFTER)
        return
    if not deliveries.claim_attempt(doc):
        return
    _attempt(c, doc, subscription)


def _attempt(c: WorkerClients, doc: DeliveryDocument, subscription: SubscriptionDocument) -> None:
    deliveries, subscriptions = c.webhook_deliveries, c.webhook_subscriptions
    body = doc["payload"].encode()
    secrets = subscriptions.signing_secrets(subscription)
    at = utcnow()
    response_status: int | None = None
    try:
        if not c.settings.webhooks_allow_private and not subscription["url"].startswith("https:"):
            raise WebhookUnreachable("only https endpoints are called")
        answer = post_signed(
            c.webhook_http,
            subscription["url"],
            body,
            signed_headers(secrets, doc["_id"], int(time.time()), body),
        )
        response_status = answer.status_code
        error = None if answer.delivered else f"the endpoint answered HTTP {answer.status_code}"
    except WebhookUnreachable as exc:
        error = str(exc)
    if error is None:
        deliveries.record_attempt(
            doc, at=at, status=DELIVERED, response_status=response_status, error=None
        )
        subscriptions.succeeded(subscription)
        _hand_over(deliveries, doc)
        return
    failing_since = subscriptions.failed(subscription, at)
    too_long = at - failing_since > timedelta(seconds=c.settings.webhooks_disable_after_seconds)
    if response_status == GONE or too_long:
        reason = (
            "the endpoint answered 410 Gone"
            if response_status == GONE
            else (f"the endpoint has failed every attempt since {failing_since.isoformat()}")
        )
        deliveries.record_attempt(
            doc, at=at, status=DEAD, response_status=response_status, error=error
        )
        if subscriptions.disable(subscription, reason):
            on_endpoint_disabled(subscription, reason)
        _hand_over(deliveries, doc)
        return
    schedule = c.settings.webhook_retry_delays
    if doc["retry"] + 1 >= len(schedule):
        deliveries.record_attempt(
            doc, at=at, status=DEAD, response_status=response_status, error=error
        )
        _hand_over(deliveries, doc)
        return
    delay = schedule[doc["retry"] + 1]
    deliveries.record_attempt(
        doc,
        at=at,
        status=FAILED,
        response_status=response_status,
        error=error,
        next_attempt_at=at + timedelta(seconds=delay),
    )
    if delay <= MAX_COUNTDOWN_SECONDS:
        _enqueue(doc, countdown=delay, attempt=len(doc["attempts"]) + 2)
    # A longer wait is only written down: the re-drive queues the attempt once it is due.


def _hand_over(deliveries: WebhookDeliveryRepository, settled: DeliveryDocument) -> None:
    """Queue the delivery that waited behind ``settled`` in its order, if one did."""
    waiting = deliveries.next_in_order(settled)
    if waiting is not None:
        _enqueue(waiting)


def _origin(url: str) -> str:
    """Scheme and host only: a tenant's URL path or query may hold a token of theirs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def on_endpoint_disabled(subscription: Mapping[str, Any], reason: str) -> None:
    """A subscription was disabled for failing: logged, and told as a ``system.error`` of kind
    ``endpoint_disabled`` (the notifications handler alerts the tenant on it). Never fails the
    task: the subscription is disabled whatever becomes of the telling."""
    try:
        log.warning(
            "webhook subscription %s of tenant %s disabled: %s",
            subscription["_id"],
            subscription["tenant_id"],
            reason,
        )
        event = system_error(
            ENDPOINT_DISABLED,
            subscription["tenant_id"],
            subscription["_id"],
            event_id=f"{subscription['_id']}:disabled:{int(utcnow().timestamp())}",
            reason=reason,
            subscription_id=subscription["_id"],
            url=_origin(subscription["url"]),
            error=reason,
        )
        clients().telemetry.record([event])
    except Exception:  # a hook never breaks the delivery
        log.exception("the endpoint-disabled hook failed")


@app.task(name="parley.maintenance.redrive_webhooks")
def redrive_webhooks(limit: int = 500) -> int:
    """Queue every delivery whose attempt is overdue by ``REDRIVE_AFTER``; how many."""
    c = clients()
    overdue = c.webhook_deliveries.due(utcnow() - REDRIVE_AFTER, limit)
    for doc in overdue:
        _enqueue(doc)
    return len(overdue)


def replay_delivery(
    deliveries: WebhookDeliveryRepository,
    subscriptions: WebhookSubscriptionRepository,
    tenant_id: str,
    subscription_id: str,
    webhook_id: str,
) -> DeliveryDocument:
    """Send a settled delivery again, same ``webhook-id``, with a fresh retry schedule.
    ``NotFound`` for another tenant's or a missing one; ``Conflict`` if it is still being
    sent or its subscription is disabled."""
    subscription = subscriptions.get(tenant_id, subscription_id)
    current = deliveries.get(tenant_id, subscription_id, webhook_id)
    if subscription["status"] != ACTIVE:
        raise Conflict("the subscription is disabled")
    if current["status"] in OPEN_STATUSES:
        raise Conflict("the delivery is still being sent")
    doc = deliveries.replay(tenant_id, subscription_id, webhook_id)
    _enqueue(doc)
    return doc
