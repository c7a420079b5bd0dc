"""Small real files for the media tests, made on the spot: images with EXIF, a tiny PDF, a
tone in any audio codec ffmpeg writes, the EICAR test file."""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

# The anti-virus test file every scanner knows (eicar.org); harmless, detected by design.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

GPS_IFD = 0x8825
MAKE = 0x010F
ORIENTATION = 0x0112


def image(
    pil_format: str = "JPEG", size: tuple[int, int] = (64, 32), *, exif: bool = True
) -> bytes:
    """A ``size`` image carrying a camera make and a GPS position in its EXIF."""
    picture = Image.new("RGB", size, (200, 40, 40))
    out = io.BytesIO()
    if exif:
        tags = Image.Exif()
        tags[MAKE] = "ParleyCam"
        tags[GPS_IFD] = {2: (48.0, 51.0, 29.0), 1: "N"}
        picture.save(out, format=pil_format, exif=tags.tobytes())
    else:
        picture.save(out, format=pil_format)
    return out.getvalue()


def rotated_jpeg() -> bytes:
    """A 40x20 JPEG whose EXIF says "turn me 90°": upright it is 20x40."""
    picture = Image.new("RGB", (40, 20), (10, 120, 10))
    tags = Image.Exif()
    tags[ORIENTATION] = 6
    out = io.BytesIO()
    picture.save(out, format="JPEG", exif=tags.tobytes())
    return out.getvalue()


def pdf(pages: int) -> bytes:
    """A valid PDF of ``pages`` empty pages, written by hand with its cross-reference table."""
    kids = " ".join(f"{3 + n} 0 R" for n in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        *[b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>" for _ in range(pages)],
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    out.write(trailer.encode())
    return out.getvalue()


TONE_TITLE = "ParleyTone"


def tone(codec: str, muxer: str, seconds: float = 1.0) -> bytes:
    """``seconds`` of a 440 Hz sine encoded by ffmpeg's ``codec`` in its ``muxer`` (ffmpeg comes
    with ``parley services up``), tagged with a title, as a recording app would."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder, "tone")
        sine = ("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}")
        encoding = ("-c:a", codec, "-metadata", f"title={TONE_TITLE}", "-f", muxer)
        subprocess.run(["ffmpeg", "-v", "error", "-nostdin", *sine, *encoding, out], check=True)
        return out.read_bytes()


def amr(seconds: float = 1.0) -> bytes:
    """``seconds`` of silence as AMR-NB, written frame by frame (Debian's ffmpeg decodes AMR but
    has no encoder for it): 20 ms frames of mode 7 (12.2 kb/s), a header byte and 31 of speech."""
    return b"#!AMR\n" + (b"\x3c" + bytes(31)) * round(seconds * 50)
