"""Images re-encoded to what the conversation's channel shows, within its size and dimensions.

An image in a format the channel does not display becomes a JPEG (a PNG when it has
transparency); one past the channel's bytes or longest side is scaled down until it fits.
Audio is converted in ``processors/media/audio.py``. Video is kept as it came: re-encoding it
takes seconds of CPU per file, and every channel Parley speaks takes an MP4.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from processors.media.metadata import open_image, save_image
from processors.media.validate import InvalidMedia


@dataclass(frozen=True)
class ImageLimits:
    formats: frozenset[str]
    max_bytes: int
    max_side: int = 4096


_MB = 1024 * 1024
# The providers' documented limits for images a bot sends.
IMAGE_LIMITS: dict[str, ImageLimits] = {
    "whatsapp": ImageLimits(frozenset({"image/jpeg", "image/png"}), 5 * _MB),
    "messenger": ImageLimits(frozenset({"image/jpeg", "image/png", "image/gif"}), 8 * _MB),
    "slack": ImageLimits(
        frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}), 20 * _MB
    ),
    "teams": ImageLimits(frozenset({"image/jpeg", "image/png", "image/gif"}), 4 * _MB),
    "web": ImageLimits(frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}), 10 * _MB),
}
_PIL_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
_SHRINK_TRIES = 6


@dataclass(frozen=True)
class Converted:
    data: bytes
    mime_type: str
    width: int
    height: int
    converted: bool


def fit_image(data: bytes, mime_type: str, channel: str) -> Converted:
    """``data`` (an image already re-saved without EXIF) as ``channel`` can show it."""
    limits = IMAGE_LIMITS.get(channel)
    image = open_image(data)
    if limits is None:
        return Converted(data, mime_type, image.width, image.height, converted=False)
    fits = mime_type in limits.formats and max(image.size) <= limits.max_side
    if fits and len(data) <= limits.max_bytes:
        return Converted(data, mime_type, image.width, image.height, converted=False)
    target = mime_type if mime_type in limits.formats else _fallback(image)
    if target == "image/gif":  # shrinking an animation frame by frame is not worth it here
        target = "image/png"
    image = _within_side(image, limits.max_side)
    for _ in range(_SHRINK_TRIES):
        encoded = save_image(image, _PIL_FORMAT[target], **_options(target))
        if len(encoded) <= limits.max_bytes:
            return Converted(encoded, target, image.width, image.height, converted=True)
        scale = max(0.5, (limits.max_bytes / len(encoded)) ** 0.5 * 0.9)
        image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
    raise InvalidMedia(f"the image does not fit {channel}'s {limits.max_bytes} bytes")


def _fallback(image: Image.Image) -> str:
    return "image/png" if image.mode in ("RGBA", "LA", "P") else "image/jpeg"


def _within_side(image: Image.Image, max_side: int) -> Image.Image:
    if max(image.size) <= max_side:
        return image
    image = image.copy()
    image.thumbnail((max_side, max_side))
    return image


def _options(mime_type: str) -> dict[str, object]:
    return {"quality": 85, "optimize": True} if mime_type == "image/jpeg" else {"optimize": True}
