"""Every processor Parley runs, registered in one list (``docs/processing.md``).

Importing this module fills the registry; the process stage imports it once.
"""

from __future__ import annotations

from processors.base import Processor
from processors.location import LocationProcessor
from processors.media.processor import MediaProcessor
from processors.normalise.content import CONTENT
from processors.normalise.message import MESSAGE
from processors.normalise.metadata import METADATA
from processors.normalise.validation import VALIDATION
from processors.registry import register_processor
from processors.text.entities import EntitiesProcessor
from processors.text.language import LanguageProcessor
from processors.text.safety import SafetyProcessor
from processors.text.sentiment import SentimentProcessor

CATALOG: tuple[Processor, ...] = (
    # one line per processor, in the order they run within their stage
    VALIDATION,
    MESSAGE,
    CONTENT,
    METADATA,
    LanguageProcessor(),
    EntitiesProcessor(),
    SentimentProcessor(),
    SafetyProcessor(),
    LocationProcessor(),
    MediaProcessor(),
)

for _processor in CATALOG:
    register_processor(_processor)
