"""The ``process`` stage: conversation and session bookkeeping, then the processor pipeline."""

from __future__ import annotations

import logging

from core.stages import PROCESS
from processors.pipeline import run_pipeline
from tasks.app import app
from tasks.base import StageTask
from tasks.policy import infrastructure_retry
from tasks.runtime import clients

log = logging.getLogger("parley.tasks.process")


@app.task(name=PROCESS.task, base=StageTask, stage=PROCESS.name, **infrastructure_retry())
def process(tenant_id: str, message_id: str) -> str:
    c = clients()
    message = c.messages.find(tenant_id, message_id)
    if message is None:
        log.warning("process: message %s is gone", message_id)
        return message_id
    if message["status"] != PROCESS.before:
        return message_id  # a re-run after the stage already finished
    conversation_id = message["conversation_id"]
    c.sessions.refresh(tenant_id, conversation_id, message["user_id"], message["channel"])
    result = run_pipeline(message["text"])
    c.conversations.touch(tenant_id, conversation_id, message_id, message["created_at"])
    c.messages.advance(
        tenant_id,
        message_id,
        PROCESS.after,
        {"processing": result.as_document()},
        current=message,
    )
    return message_id
