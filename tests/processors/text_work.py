"""A text message as the pipeline hands it to the text processors, written at a fixed time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from processors.base import Kind, Work

WRITTEN_AT = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)  # a Friday


def text_work(text: str, *, channel: str = "web", **fields: Any) -> Work:
    return Work(
        tenant_id="t_text",
        message_id="m_text",
        channel=channel,
        kind=Kind.TEXT,
        text=text,
        created_at=WRITTEN_AT,
        **fields,
    )


def options(**per_processor: dict[str, Any]) -> dict[str, Any]:
    """A tenant ``processing`` config with options for the named processors."""
    return {"processors": per_processor}
