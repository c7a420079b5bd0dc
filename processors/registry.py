"""The explicit registry of processors: which run for a message of each kind, in stage order.

Processors register at import of ``processors.catalog`` (one line each), never by scanning
modules, so what runs is written in one place.
"""

from __future__ import annotations

from processors.base import STAGE_ORDER, Kind, Processor

_PROCESSORS: dict[str, Processor] = {}


class DuplicateProcessor(ValueError):
    """Two processors under one name: a programming error, caught at import."""


def register_processor(processor: Processor) -> Processor:
    if processor.name in _PROCESSORS:
        raise DuplicateProcessor(f"a processor named {processor.name!r} is registered already")
    _PROCESSORS[processor.name] = processor
    return processor


def get_processor(kind: Kind) -> list[Processor]:
    """The processors for messages of ``kind``, in stage order (registration order within a
    stage)."""
    chosen = [p for p in _PROCESSORS.values() if kind in p.kinds]
    return sorted(chosen, key=lambda p: STAGE_ORDER.index(p.stage))


def processor_names() -> list[str]:
    """Every registered processor's name: what a tenant's config may name."""
    return list(_PROCESSORS)
