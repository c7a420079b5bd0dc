"""ffmpeg and ffprobe for the media processor (durations, audio conversion): Debian's ``ffmpeg``."""

from __future__ import annotations

from services.devstack.apt import ensure_program


def ensure_ffmpeg() -> str:
    """The path of the ``ffmpeg`` program (``ffprobe`` comes in the same package)."""
    return ensure_program("ffmpeg", "ffmpeg")
