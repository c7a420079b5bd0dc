"""What a checked file holds: dimensions, duration, pages; images re-saved without EXIF.

Images are decoded with Pillow (a decompression bomb is invalid media, not a crash), turned
upright by their EXIF orientation and re-saved without EXIF, so a photo's location and camera
never reach storage. Pages come from pypdf; durations from ``ffprobe`` when it is installed
(without it ``duration_seconds`` is None, never a guess).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from processors.media.validate import InvalidMedia

_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
FFPROBE_SECONDS = 10.0


@dataclass(frozen=True)
class Described:
    data: bytes  # the bytes to keep: for images re-saved without EXIF
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    pages: int | None = None


def describe(data: bytes, mime_type: str) -> Described:
    """The file's metadata and the bytes to keep; InvalidMedia if it does not decode."""
    if mime_type in _PIL_FORMATS:
        image = open_image(data)
        pil_format = _PIL_FORMATS[mime_type]
        # Pillow's default JPEG quality (75) would visibly degrade a photo on its first re-save.
        options = {"quality": 90} if pil_format == "JPEG" else {}
        kept = save_image(image, pil_format, **options)
        return Described(kept, width=image.width, height=image.height)
    if mime_type == "application/pdf":
        return Described(data, pages=count_pages(data))
    if mime_type.startswith(("audio/", "video/")):
        return Described(data, duration_seconds=probe_duration(data))
    return Described(data)


def open_image(data: bytes) -> Image.Image:
    """The decoded image, upright; InvalidMedia for a broken file or a decompression bomb."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                image.load()
                return image
            return ImageOps.exif_transpose(image)
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        SyntaxError,  # Pillow's word for a malformed header in some plugins
        ValueError,
    ) as exc:
        raise InvalidMedia(f"the image does not decode: {exc}") from exc


def save_image(image: Image.Image, pil_format: str, **options: object) -> bytes:
    """``image`` encoded as ``pil_format`` with no EXIF or text chunks (Pillow writes metadata
    only when asked)."""
    if pil_format == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    out = io.BytesIO()
    if getattr(image, "n_frames", 1) > 1:
        options = {"save_all": True, **options}
    image.save(out, format=pil_format, **options)
    return out.getvalue()


def count_pages(data: bytes) -> int:
    try:
        return len(PdfReader(io.BytesIO(data)).pages)
    except (PyPdfError, ValueError, KeyError, OSError) as exc:
        raise InvalidMedia(f"the PDF does not parse: {exc}") from exc


def probe_duration(data: bytes) -> float | None:
    """Seconds of audio or video per ``ffprobe``; None when it is missing or cannot tell."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".media") as file:
        file.write(data)
        file.flush()
        argv = [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "json"]
        try:
            done = subprocess.run(
                [*argv, file.name], capture_output=True, timeout=FFPROBE_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            return None
    try:
        duration = json.loads(done.stdout or b"{}").get("format", {}).get("duration")
        return round(float(duration), 3) if duration is not None else None
    except (ValueError, TypeError, AttributeError):
        return None
