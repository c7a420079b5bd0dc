"""A file's metadata is read from it, and a photo is kept without its EXIF."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from processors.media.metadata import describe
from processors.media.validate import InvalidMedia
from tests.processors.media.samples import GPS_IFD, MAKE, image, pdf, rotated_jpeg


@pytest.mark.parametrize(
    ("pil_format", "mime_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")],
)
def test_an_image_is_measured_and_kept_without_its_exif(pil_format: str, mime_type: str) -> None:
    original = image(pil_format, (64, 32))
    assert Image.open(io.BytesIO(original)).getexif()[MAKE] == "ParleyCam"

    described = describe(original, mime_type)

    assert (described.width, described.height) == (64, 32)
    kept = Image.open(io.BytesIO(described.data))
    assert kept.format == pil_format
    assert dict(kept.getexif()) == {}
    assert GPS_IFD not in kept.getexif()
    assert b"ParleyCam" not in described.data


def test_an_image_is_turned_upright_before_its_orientation_tag_goes() -> None:
    described = describe(rotated_jpeg(), "image/jpeg")
    assert (described.width, described.height) == (20, 40)
    assert Image.open(io.BytesIO(described.data)).size == (20, 40)


def test_a_pdf_is_counted_by_its_pages() -> None:
    described = describe(pdf(3), "application/pdf")
    assert described.pages == 3
    assert described.width is None


def test_an_image_that_does_not_decode_is_invalid() -> None:
    truncated = image("PNG")[:40]
    with pytest.raises(InvalidMedia, match="does not decode"):
        describe(truncated, "image/png")


def test_a_pdf_that_does_not_parse_is_invalid() -> None:
    with pytest.raises(InvalidMedia, match="does not parse"):
        describe(b"%PDF-1.4\nnot a pdf at all", "application/pdf")


def test_audio_is_timed_by_ffprobe() -> None:
    # ffmpeg and ffprobe come with `parley services up`.
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".ogg") as out:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1.5", out.name],
            check=True,
        )
        described = describe(Path(out.name).read_bytes(), "audio/ogg")
    assert described.duration_seconds == pytest.approx(1.5, abs=0.1)
