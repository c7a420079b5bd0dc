"""What every processor is, what it works on, and the errors it may raise.

A processor is a small object with a ``name``, the ``stage`` it runs in and the message
``kinds`` it serves; ``run`` reads the ``Work`` (the message as the pipeline sees it, the
tenant's processing config, what earlier processors found) and writes what it found into
``work.results[self.name]``. The pipeline (``processors/pipeline.py``) runs the processors
``processors/registry.py`` holds for the message's kind, stage by stage, and records each one's
outcome and duration. The result shapes and the tenant config are in ``docs/processing.md``.

    ProcessorError (core.errors.ParleyError)   the processor could not do its job: recorded as
    │                                          failed, the turn goes on without its result
    └── Refused                                the message must not go on (validation, the
                                               tenant's safety policy, infected media): the
                                               user gets ``reply``, the turn is audited
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from core.errors import ParleyError


class Kind(StrEnum):
    """What a message carries, which picks the processors that see it."""

    TEXT = "text"
    MEDIA = "media"
    LOCATION = "location"
    INTERACTIVE = "interactive"  # a button or quick reply pressed, a list item chosen


class Stage(StrEnum):
    """The pipeline's stages, in the order they run."""

    VALIDATION = "validation"
    NORMALISATION = "normalisation"
    PROCESSING = "processing"
    ENRICHMENT = "enrichment"
    ANALYSIS = "analysis"


STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)


class ProcessorError(ParleyError):
    """A processor failed; the turn goes on without its result."""


class Refused(ProcessorError):
    """The message stops here; ``reply`` is what the user is told, ``reason`` a slug for
    operators (``invalid``, ``policy:<category>``, ``media:infected`` ...)."""

    def __init__(self, reason: str, reply: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reply = reply


@dataclass
class Work:
    """One inbound message on its way through the pipeline.

    ``text`` starts as the stored text and is what normalisers rewrite; ``engine_text`` is what
    the engine, the analytics copy and the events get (redacted by the safety processor when
    the tenant's policy says so). ``config`` is the tenant's ``processing`` settings, already
    merged over the defaults. ``services`` holds what processors reach outside the process
    through (media download, the virus scanner, the blob store), given by the process stage.
    """

    tenant_id: str
    message_id: str
    channel: str
    kind: Kind
    text: str
    created_at: datetime
    content: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    last_language: str | None = None  # the conversation's, for texts too short to tell
    services: Any = None
    engine_text: str | None = None
    results: dict[str, Any] = field(default_factory=dict)

    def options(self, processor: str) -> Mapping[str, Any]:
        """The tenant's options for one processor (``config.processors[name]``)."""
        processors = self.config.get("processors") or {}
        options = processors.get(processor) or {}
        return options if isinstance(options, Mapping) else {}


class Processor(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def stage(self) -> Stage: ...

    @property
    def kinds(self) -> frozenset[Kind]: ...

    def run(self, work: Work) -> None:
        """Write the finding into ``work.results[self.name]`` (and, for normalisers and
        safety, ``work.text`` / ``work.engine_text``); raise ProcessorError or Refused."""
        ...
