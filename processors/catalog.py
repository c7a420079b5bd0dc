"""Every processor Parley runs, registered in one list (``docs/processing.md``).

Importing this module fills the registry; the process stage imports it once.
"""

from __future__ import annotations

from processors.base import Processor
from processors.registry import register_processor
from processors.text.entities import EntitiesProcessor
from processors.text.language import LanguageProcessor
from processors.text.safety import SafetyProcessor
from processors.text.sentiment import SentimentProcessor

CATALOG: tuple[Processor, ...] = (
    # one line per processor, in the order they run within their stage
    LanguageProcessor(),
    EntitiesProcessor(),
    SentimentProcessor(),
    SafetyProcessor(),
)

for _processor in CATALOG:
    register_processor(_processor)
