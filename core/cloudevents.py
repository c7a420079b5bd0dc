"""CloudEvents 1.0 envelopes for Parley's Kafka events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.timeutil import isoformat

SPEC_VERSION = "1.0"


@dataclass(frozen=True)
class CloudEvent:
    """One event. ``id`` is deterministic per fact, so consumers can drop duplicates by it."""

    id: str
    type: str
    source: str
    subject: str
    time: datetime
    tenant_id: str
    partition_key: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": isoformat(self.time),
            "datacontenttype": "application/json",
            # Extension attributes: lowercase alphanumerics only, per the spec.
            "tenantid": self.tenant_id,
            "partitionkey": self.partition_key,
            "data": self.data,
        }
