"""What the media processor reaches outside the process through: ``work.services``.

The process stage passes an implementation (``tasks/media_services.py``); the processor never
knows which channel adapter downloads, which scanner scans or where blobs are kept.

    ProcessorError
    ├── FetchFailed      the file could not be downloaded (the turn goes on without media)
    └── InvalidMedia     (processors.media.validate) the file is not one Parley takes
        └── TooLarge     past the tenant's ``max_bytes``: refused, never read whole
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from processors.base import ProcessorError, Work
from processors.media.validate import InvalidMedia


class FetchFailed(ProcessorError):
    """The provider, URL or upload store did not give the file."""


class TooLarge(InvalidMedia):
    """The file is larger than the tenant lets a message carry."""


@runtime_checkable
class MediaServices(Protocol):
    def fetch(self, work: Work, max_bytes: int) -> bytes:
        """The message's file, read through its channel (WhatsApp media id, an attachment URL,
        a widget upload) within a timeout; TooLarge past ``max_bytes``, FetchFailed otherwise."""
        ...

    def scan(self, data: bytes) -> str | None:
        """None for a clean file, else the name of what the scanner found; a ProcessorError
        when the scanner cannot tell."""
        ...

    def store(self, tenant_id: str, data: bytes, mime_type: str, filename: str) -> str:
        """Keep the file for the tenant (its retention applies); the blob's id."""
        ...
