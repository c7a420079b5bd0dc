"""Every processor Parley runs, registered in one list (``docs/processing.md``).

Importing this module fills the registry; the process stage imports it once.
"""

from __future__ import annotations

from processors.base import Processor
from processors.media.processor import MediaProcessor
from processors.registry import register_processor

CATALOG: tuple[Processor, ...] = (
    # one line per processor, in the order they run within their stage
    MediaProcessor(),
)

for _processor in CATALOG:
    register_processor(_processor)
