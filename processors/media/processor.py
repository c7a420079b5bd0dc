"""The ``media`` processor: fetch, check by content, scan, describe, convert, store.

Its result is ``work.results["media"]`` as docs/processing.md draws it. Media that is not what
it claims, or that the scanner flags, is refused with a reply to the user and never stored; a
download or a scanner that fails, or an ffmpeg that is missing or too slow, is a
ProcessorError, so the turn goes on without the file.
A message with several files (a widget message's attachments) is described by its first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from processors.base import Kind, ProcessorError, Refused, Stage, Work
from processors.media.audio import fit_audio
from processors.media.convert import fit_image
from processors.media.metadata import describe, probe_duration
from processors.media.services import MediaServices, TooLarge
from processors.media.validate import InvalidMedia, check

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
INVALID_REPLY = (
    "Sorry, I can't open that file. Please send a photo, a voice message, a video or a PDF."
)
TOO_LARGE_REPLY = "Sorry, that file is too large for me. Please send a smaller one."
INFECTED_REPLY = "I can't accept that file: it looks unsafe, so it was not kept."
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
}


@dataclass(frozen=True)
class MediaProcessor:
    name: str = "media"
    stage: Stage = Stage.PROCESSING
    kinds: frozenset[Kind] = field(default_factory=lambda: frozenset({Kind.MEDIA}))
    timeout_ms: int = 20_000  # a download, a scan and a conversion: not the default 500 ms

    def run(self, work: Work) -> None:
        services = work.services
        if not isinstance(services, MediaServices):
            raise ProcessorError("the process stage passed no media services")
        max_bytes = int(work.options(self.name).get("max_bytes") or DEFAULT_MAX_BYTES)
        content = _file_content(work.content)
        try:
            data = services.fetch(work, max_bytes)
            if len(data) > max_bytes:  # an implementation's limit is not trusted blindly
                raise TooLarge(f"{len(data)} bytes is past the limit of {max_bytes}")
        except InvalidMedia as exc:
            raise Refused("media:invalid", _reply(exc)) from exc
        # Scanned first, as received: infected is said of any file, before a decoder parses it.
        if services.scan(data) is not None:
            raise Refused("media:infected", INFECTED_REPLY)
        try:
            checked = check(data, _str(content.get("mime_type")), work.channel)
            described = describe(data, checked.mime_type)
            kept, mime_type = described.data, checked.mime_type
            width, height, converted = described.width, described.height, False
            duration = described.duration_seconds
            if checked.type == "image":
                fitted = fit_image(kept, mime_type, work.channel)
                kept, mime_type, converted = fitted.data, fitted.mime_type, fitted.converted
                width, height = fitted.width, fitted.height
            elif checked.type == "audio":
                played = fit_audio(kept, mime_type, work.channel)
                kept, mime_type, converted = played.data, played.mime_type, played.converted
                if converted:
                    duration = probe_duration(kept)
        except InvalidMedia as exc:
            raise Refused("media:invalid", INVALID_REPLY) from exc
        filename = _filename(_str(content.get("filename")), work.message_id, mime_type, converted)
        blob_id = services.store(work.tenant_id, kept, mime_type, filename)
        work.results[self.name] = {
            "type": checked.type,
            "mime_type": mime_type,
            "size": len(kept),
            "blob_id": blob_id,
            "width": width,
            "height": height,
            "duration_seconds": duration,
            "pages": described.pages,
            "scan": "clean",
            "converted": converted,
        }


def _file_content(content: Mapping[str, Any]) -> Mapping[str, Any]:
    """The file's own fields: the message's content, or a widget message's first attachment
    (which names its type ``content_type``)."""
    attachments = content.get("attachments")
    if isinstance(attachments, list) and attachments and isinstance(attachments[0], Mapping):
        first = attachments[0]
        return {"mime_type": first.get("content_type"), "filename": first.get("filename")}
    return content


def _reply(exc: InvalidMedia) -> str:
    return TOO_LARGE_REPLY if isinstance(exc, TooLarge) else INVALID_REPLY


def _filename(given: str | None, message_id: str, mime_type: str, converted: bool) -> str:
    """The user's name for the file, else the message id; a converted file's name says its new
    type (``memo.flac`` stored as MP3 is ``memo.mp3``)."""
    if given and not converted:
        return given
    stem = (given.rsplit(".", 1)[0] or given) if given else message_id
    extension = _EXTENSIONS.get(mime_type) or mime_type.rsplit("/", 1)[-1].split("+")[0]
    return f"{stem}.{extension}"


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
