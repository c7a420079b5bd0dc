"""Showing a click's choice on the message that was clicked (Slack's ``chat.update``), beside
the turn the click starts: the process stage enqueues it, the deliver queue's workers run it
(celeryconfig routes it there: it waits on the provider, as a send does).

A cosmetic change, so it never holds up or fails the turn: a transient failure is retried by
the channel's delivery policy (``Retry-After`` first), a refusal (the message is gone, or not
the bot's to change) is noted and not retried, and a policy that runs out is noted as
``failed``. The outcome is written once (``choice_shown``), so a redelivered task, or a second
copy enqueued by a re-run of the process stage, finds it and calls no one; a webhook Slack
delivers twice is one inbound message (the ingress dedupes it), hence one update.
"""

from __future__ import annotations

import logging
from typing import Literal

from celery import Task

from channels.base import RateLimited, SendFailed, SendRejected
from channels.registry import CHOICE_ADAPTERS
from core.timeutil import utcnow
from storage.documents import ChoiceShown, MessageDocument
from tasks.app import app
from tasks.policy import INFRASTRUCTURE_ERRORS, MAX_COUNTDOWN, delivery_policy
from tasks.runtime import clients

log = logging.getLogger("parley.tasks.choices")

TASK = "parley.show_choice"
Outcome = Literal["shown", "refused", "failed"]


def wants_choice_shown(message: MessageDocument) -> bool:
    return "clicked" in message and message["channel"] in CHOICE_ADAPTERS


def enqueue_show_choice(message: MessageDocument) -> None:
    """Hand the click's update to its own task (never waited on)."""
    show_choice.apply_async((message["tenant_id"], message["_id"]))


@app.task(
    name=TASK,
    bind=True,
    autoretry_for=INFRASTRUCTURE_ERRORS,
    retry_backoff=1,
    retry_backoff_max=30,
    max_retries=12,
)
def show_choice(self: Task, tenant_id: str, message_id: str) -> str:  # type: ignore[type-arg]
    c = clients()
    message = c.messages.find(tenant_id, message_id)
    if message is None or "choice_shown" in message or not wants_choice_shown(message):
        return message_id
    config_id = message.get("channel_config_id")
    content = message.get("content") or {}
    title = str(content.get("title") or content.get("id") or message["text"])
    adapter = CHOICE_ADAPTERS[message["channel"]]
    policy = delivery_policy(message["channel"])
    try:
        if not config_id:
            raise SendRejected("the click names no channel config", code="config")
        config = c.channel_configs.for_delivery(tenant_id, config_id)
        adapter.show_choice(message["clicked"], title, config, c.channels)
    except SendRejected as exc:
        log.info("the clicked message of %s cannot show the choice: %s", message_id, exc)
        _note(tenant_id, message_id, "refused", exc.code or "refused")
        return message_id
    except SendFailed as exc:
        attempts = self.request.retries + 1
        if attempts >= policy.max_attempts:
            log.warning("gave up showing the choice of %s: %s", message_id, exc)
            _note(tenant_id, message_id, "failed", type(exc).__name__)
            return message_id
        hint = exc.retry_after if isinstance(exc, RateLimited) else None
        countdown = min(policy.delay(attempts, hint), MAX_COUNTDOWN)
        raise self.retry(exc=exc, countdown=countdown, max_retries=policy.max_attempts) from exc
    _note(tenant_id, message_id, "shown")
    return message_id


def _note(tenant_id: str, message_id: str, state: Outcome, code: str | None = None) -> None:
    shown: ChoiceShown = {"state": state, "at": utcnow()}
    if code is not None:
        shown["code"] = code
    clients().messages.note_choice_shown(tenant_id, message_id, shown)
