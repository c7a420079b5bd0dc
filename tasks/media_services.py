"""The media processor's ``MediaServices`` over this process's clients: downloads through the
channel adapters (or the widget's upload store), clamd, and the GridFS blob store.

The process stage passes ``media_services(clients())`` as ``Work.services``; the channels' and
storage's errors are mapped here to the processor's (TooLarge, FetchFailed, ScanFailed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from channels.media import MediaTooLarge, MediaUnavailable, download_media
from channels.runtime import ChannelRuntime
from core.errors import NotFound
from core.settings import Settings
from processors.base import Work
from processors.media.scan import Clamd
from processors.media.services import FetchFailed, TooLarge
from storage.blobs import BlobStore
from storage.channel_configs import ChannelConfigRepository
from storage.messages import MessageRepository
from storage.uploads import UploadRepository


class MediaClients(Protocol):
    """What of a process's clients the media services use (``WorkerClients`` has them all)."""

    settings: Settings
    messages: MessageRepository
    channel_configs: ChannelConfigRepository
    uploads: UploadRepository
    blobs: BlobStore
    channels: ChannelRuntime


@dataclass(frozen=True)
class ChannelMediaServices:
    clients: MediaClients
    clamd: Clamd

    def fetch(self, work: Work, max_bytes: int) -> bytes:
        try:
            if work.channel == "web":
                return self._upload(work, max_bytes)
            message = self.clients.messages.find(work.tenant_id, work.message_id)
            config_id = message.get("channel_config_id") if message else None
            if config_id is None:
                raise FetchFailed(f"message {work.message_id} names no channel config")
            config = self.clients.channel_configs.for_delivery(work.tenant_id, config_id)
            return download_media(
                work.channel, work.content, config, self.clients.channels, max_bytes
            )
        except MediaTooLarge as exc:
            raise TooLarge(str(exc)) from exc
        except (MediaUnavailable, NotFound) as exc:
            raise FetchFailed(str(exc)) from exc

    def scan(self, data: bytes) -> str | None:
        return self.clamd.scan(data)

    def store(self, tenant_id: str, data: bytes, mime_type: str, filename: str) -> str:
        return self.clients.blobs.put(tenant_id, data, mime_type, filename)

    def _upload(self, work: Work, max_bytes: int) -> bytes:
        """A widget message's first upload, read from the visitor's own uploads."""
        attachments = work.content.get("attachments") or []
        message = self.clients.messages.find(work.tenant_id, work.message_id)
        if not attachments or message is None:
            raise FetchFailed(f"message {work.message_id} carries no upload")
        widget_id = str(message.get("reply_to", {}).get("widget_id", ""))
        upload = self.clients.uploads.get(
            work.tenant_id, widget_id, message["user_id"], str(attachments[0]["upload_id"])
        )
        if upload["size"] > max_bytes:
            raise TooLarge(f"{upload['size']} bytes is past the limit of {max_bytes}")
        return upload["data"]


def media_services(clients: MediaClients) -> ChannelMediaServices:
    """The media services of a process whose clients are ``clients`` (built after fork)."""
    host, _, port = clients.settings.clamd_addr.rpartition(":")
    clamd = Clamd(host or "127.0.0.1", int(port), timeout=clients.settings.clamd_timeout_seconds)
    return ChannelMediaServices(clients, clamd)
