"""The processor pipeline the ``process`` stage runs on each inbound message."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from processors.detect import detect_type
from processors.normalize import normalize_text


@dataclass(frozen=True)
class ProcessingResult:
    normalized_text: str
    message_type: str
    length: int

    def as_document(self) -> dict[str, object]:
        return asdict(self)


def run_pipeline(text: str) -> ProcessingResult:
    normalized = normalize_text(text)
    return ProcessingResult(
        normalized_text=normalized,
        message_type=detect_type(normalized).value,
        length=len(normalized),
    )
