"""What a file is, told by its first bytes, checked against its declared type and its channel.

A small signature table of our own rather than a library: Parley takes about fifteen formats,
each told by a fixed prefix (or a brand at a fixed offset), and a table this size is easier to
read and to keep in step with the channels' lists than a general detector's thousand entries.
A declared type is only a claim: what the bytes say wins, and a mismatch is invalid media.
"""

from __future__ import annotations

from dataclasses import dataclass

from processors.base import ProcessorError

# (offset, prefix, mime type), first match wins; RIFF and ftyp containers are told apart below.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"OggS", "audio/ogg"),
    (0, b"#!AMR", "audio/amr"),
    (0, b"fLaC", "audio/flac"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\xff\xfb", "audio/mpeg"),
    (0, b"\xff\xf3", "audio/mpeg"),
    (0, b"\xff\xf2", "audio/mpeg"),
    (0, b"\xff\xf1", "audio/aac"),
    (0, b"\xff\xf9", "audio/aac"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
_FTYP_BRANDS = {b"3gp": "video/3gpp", b"M4A": "audio/mp4", b"qt ": "video/quicktime"}

# Containers whose declared type says what is inside (an .docx is a zip; an audio/mp4 an MP4).
_CONTAINS: dict[str, frozenset[str]] = {
    "application/zip": frozenset(
        {
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        }
    ),
    "application/x-ole-storage": frozenset(
        {"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"}
    ),
    "video/mp4": frozenset({"audio/mp4", "audio/aac"}),
    "audio/mp4": frozenset({"video/mp4"}),
    "audio/ogg": frozenset({"video/ogg", "application/ogg"}),
    "video/webm": frozenset({"audio/webm"}),
    "audio/mpeg": frozenset({"audio/mp3"}),
    "image/jpeg": frozenset({"image/jpg", "image/pjpeg"}),
    "audio/wav": frozenset({"audio/x-wav", "audio/wave"}),
    "audio/flac": frozenset({"audio/x-flac"}),
}

_DOCUMENTS = frozenset(
    {"application/pdf", *_CONTAINS["application/zip"], *_CONTAINS["application/x-ole-storage"]}
)
_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_AUDIO = frozenset(
    {"audio/ogg", "audio/amr", "audio/mpeg", "audio/aac", "audio/mp4", "audio/wav", "audio/flac"}
)
_VIDEO = frozenset({"video/mp4", "video/3gpp", "video/quicktime", "video/webm"})

# What each channel carries from its users (its documented inbound media types).
CHANNEL_TYPES: dict[str, frozenset[str]] = {
    "whatsapp": frozenset(
        {"image/jpeg", "image/png", "image/webp", *_AUDIO - {"audio/wav", "audio/flac"}}
        | {"video/mp4", "video/3gpp", *_DOCUMENTS}
    ),
    "messenger": _IMAGES | _AUDIO | _VIDEO | _DOCUMENTS,
    "slack": _IMAGES | _AUDIO | _VIDEO | _DOCUMENTS,
    "teams": _IMAGES | _AUDIO | _VIDEO | _DOCUMENTS,
    "web": _IMAGES | {"application/pdf"},
}
_EVERYTHING = _IMAGES | _AUDIO | _VIDEO | _DOCUMENTS


class InvalidMedia(ProcessorError):
    """The bytes are not a file Parley takes, or not the one they claim to be."""


@dataclass(frozen=True)
class Checked:
    mime_type: str  # what the bytes are (the declared type, when a container says no more)
    type: str  # image | audio | video | document


def sniff(data: bytes) -> str | None:
    """The mime type the first bytes show, or None for none Parley knows."""
    if data[:4] == b"RIFF" and len(data) >= 12:
        return _RIFF.get(data[8:12])
    if data[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(data[8:11], "video/mp4")
    for offset, prefix, mime_type in _SIGNATURES:
        if data[offset : offset + len(prefix)] == prefix:
            return mime_type
    return None


def media_type(mime_type: str) -> str:
    """The family the pipeline reports: image, audio, video or document."""
    family = mime_type.split("/", 1)[0]
    return family if family in ("image", "audio", "video") else "document"


def check(data: bytes, declared: str | None, channel: str) -> Checked:
    """What ``data`` is, if it is what ``declared`` says (when it says) and ``channel`` takes it;
    InvalidMedia otherwise."""
    found = sniff(data)
    if found is None:
        raise InvalidMedia("the file's content is of no type Parley takes")
    claimed = _bare(declared)
    mime_type = found
    if claimed and claimed != found:
        if claimed not in _CONTAINS.get(found, frozenset()):
            raise InvalidMedia(f"declared {claimed} but the content is {found}")
        mime_type = claimed if claimed in _EVERYTHING else found
    if mime_type not in CHANNEL_TYPES.get(channel, _EVERYTHING):
        raise InvalidMedia(f"{channel} does not carry {mime_type}")
    return Checked(mime_type, media_type(mime_type))


def _bare(declared: str | None) -> str | None:
    """``audio/ogg; codecs=opus`` → ``audio/ogg``."""
    if not declared:
        return None
    return declared.split(";", 1)[0].strip().lower() or None
