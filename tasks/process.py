"""The ``process`` stage: the session's bookkeeping (Redis), then the processor pipeline
(``docs/processing.md``), whose findings are stored on the message: two MongoDB round trips,
the message's read and its write."""

from __future__ import annotations

import logging
from typing import Any

import processors.catalog  # noqa: F401  (fills the registry the pipeline reads)
from core.chat_events import message_received
from core.stages import PROCESS
from processors.base import Kind, Work
from processors.config import merged
from processors.gazetteer import BUNDLED
from processors.location import coarsened_content, coarsened_text
from processors.pipeline import run_pipeline
from processors.text.language import preload as preload_language
from storage.documents import MessageDocument
from storage.outbox import restaged
from tasks.app import app
from tasks.base import StageTask
from tasks.choices import enqueue_show_choice, wants_choice_shown
from tasks.media_services import media_services
from tasks.policy import infrastructure_retry
from tasks.runtime import WorkerClients, clients

log = logging.getLogger("parley.tasks.process")

# A stored message's ``kind`` (core.envelopes.InboundMessage) → the processors that see it.
KINDS: dict[str, Kind] = {
    "text": Kind.TEXT,
    "image": Kind.MEDIA,
    "media": Kind.MEDIA,
    "file": Kind.MEDIA,  # a web visitor's upload that is not an image
    "location": Kind.LOCATION,
    "interactive": Kind.INTERACTIVE,
}


_warm = False


def _warm_up() -> None:
    """Load the language models and the gazetteer (seconds) once per process, before the first
    message, outside the processors' timeouts; only processes that run this stage hold them."""
    global _warm
    if not _warm:
        preload_language()
        BUNDLED.get()
        _warm = True


def _work(c: WorkerClients, message: MessageDocument, last_language: str | None) -> Work:
    tenant_id = message["tenant_id"]
    kind = KINDS.get(message.get("kind", "text"), Kind.TEXT)
    return Work(
        tenant_id=tenant_id,
        message_id=message["_id"],
        channel=message["channel"],
        kind=kind,
        text=message["text"],
        created_at=message["created_at"],
        content=message.get("content") or {},
        # The channel's user id too: a WhatsApp id is a phone number, whose region the
        # entities processor reads phone numbers in.
        metadata={**(message.get("metadata") or {}), "user_id": message["user_id"]},
        # The tenant's settings, cached for PARLEY_TENANT_CACHE_SECONDS like the engine's.
        config=merged(c.tenants.status(tenant_id).processing),
        last_language=last_language,
        services=media_services(c) if kind is Kind.MEDIA else None,
    )


def _stored_fields(work: Work, processing: dict[str, Any]) -> dict[str, Any]:
    """``processing``, and the redacted text in place of the original: in ``text`` too unless
    the tenant keeps the original (then ``text`` alone holds it)."""
    redacted = processing["engine_text"]
    if redacted == processing["normalized_text"]:
        return {"processing": processing}
    fields: dict[str, Any] = {"processing": {**processing, "normalized_text": redacted}}
    if not work.config.get("safety", {}).get("keep_original"):
        fields["text"] = redacted
    return fields


def _coarsened(work: Work, message: MessageDocument, fields: dict[str, Any]) -> None:
    """A location is stored no finer than the tenant's precision (docs/processing.md)."""
    if work.kind is not Kind.LOCATION:
        return
    options = work.options("location")
    content = message.get("content") or {}
    fields["content"] = coarsened_content(content, options)
    fields["text"] = coarsened_text(fields.get("text", message["text"]), content, options)


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
    # The conversation itself is not read or written here: its activity and history are the
    # generate stage's write (storage/conversations.py remember_turn).
    _, last_language = c.sessions.refresh_turn(
        tenant_id, conversation_id, message["user_id"], message["channel"]
    )
    _warm_up()
    work = _work(c, message, last_language)
    processing = run_pipeline(work)
    fields = _stored_fields(work, processing)
    _coarsened(work, message, fields)
    # The received event, not yet published, is staged anew with the summary and the text the
    # engine saw, so the events never carry what the policy redacted.
    received = message_received({**message, **fields}, fields["processing"])
    fields["outbox"] = restaged(message.get("outbox") or [], received)
    language = processing.get("language")
    told = None  # the language to remember for the next message too short to tell
    if isinstance(language, dict) and language.get("code") and language.get("source") != "default":
        told = str(language["code"])
    if wants_choice_shown(message):  # before the advance: a re-run after a crash sends it again
        enqueue_show_choice(message)
    if told and told != last_language:
        c.sessions.remember_language(tenant_id, conversation_id, told)
    c.messages.advance(tenant_id, message_id, PROCESS.after, fields, current=message)
    return message_id
