"""Audio converted with ``ffmpeg`` to a format the conversation's channel plays.

Each channel's set is the audio types its provider plays when a bot sends them, and its target
the one a file of any other type becomes:

- WhatsApp (Cloud API): audio/aac, audio/amr, audio/mpeg, audio/mp4, audio/ogg, the last only
  with the Opus codec. Target: OGG/Opus, mono at 32 kb/s, the format of WhatsApp's own voice
  notes, so a converted file plays like one. An OGG is kept only if ``ffprobe`` says its codec
  is ``opus``: an OGG/Vorbis has the same type and first bytes, and only its codec differs.
- Messenger, Slack, Teams: audio/mpeg, audio/mp4, audio/aac, audio/wav. Target: MP3
  (libmp3lame), which all three play inline.
- web (the widget, in a browser): audio/mpeg, audio/ogg, audio/wav, audio/mp4, audio/aac,
  audio/webm, what current browsers' ``<audio>`` plays. Target: MP3, which every browser plays.

The provider notes in the shared channel docs give no audio formats (only that a WhatsApp audio
message may be a ``voice`` note and that Messenger sends audio by URL), so nothing above
differs from them. A file already in its channel's set is kept byte for byte, and so is any file
for a channel not in the table.

ffmpeg reads and writes temp files whose paths are the only strings it gets from outside this
module. The demuxer comes from our own table, chosen by the type ``validate.check`` found, so
ffmpeg never guesses a format from the bytes and reads only local files (``-protocol_whitelist
file``). ``-vn`` drops a cover picture or a video track and ``-map_metadata -1`` drops the tags,
which can name the user or their recording app.

    ProcessorError        ffmpeg or ffprobe is missing or took too long: the turn goes on
    └── InvalidMedia      (processors.media.validate) ffmpeg cannot decode the bytes
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from processors.base import ProcessorError
from processors.media.validate import InvalidMedia

# Well inside the media processor's own 20 s, so ffmpeg never outlives the processor's turn.
FFMPEG_SECONDS = 15.0
_STDERR_CHARS = 200


@dataclass(frozen=True)
class AudioFormats:
    plays: frozenset[str]
    target: str
    codecs: Mapping[str, str] = field(default_factory=dict)  # a type played only with one codec


_MP3_CHANNELS = AudioFormats(
    frozenset({"audio/mpeg", "audio/mp4", "audio/aac", "audio/wav"}), "audio/mpeg"
)
# What each channel plays when a bot sends it (see the module docstring for the sources).
AUDIO_FORMATS: dict[str, AudioFormats] = {
    "whatsapp": AudioFormats(
        frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}),
        "audio/ogg",
        codecs={"audio/ogg": "opus"},
    ),
    "messenger": _MP3_CHANNELS,
    "slack": _MP3_CHANNELS,
    "teams": _MP3_CHANNELS,
    "web": AudioFormats(
        frozenset({"audio/mpeg", "audio/ogg", "audio/wav", "audio/mp4", "audio/aac", "audio/webm"}),
        "audio/mpeg",
    ),
}
# ffmpeg's demuxer for each audio type Parley takes (validate's _AUDIO).
_DEMUXERS = {
    "audio/ogg": "ogg",
    "audio/amr": "amr",
    "audio/mpeg": "mp3",
    "audio/aac": "aac",
    "audio/mp4": "mp4",
    "audio/wav": "wav",
    "audio/flac": "flac",
}
# How each target is encoded: its codec and settings, then its muxer.
_ENCODERS: dict[str, tuple[str, ...]] = {
    "audio/ogg": ("-c:a", "libopus", "-ac", "1", "-ar", "48000", "-b:a", "32k", "-f", "ogg"),
    "audio/mpeg": ("-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"),
}


@dataclass(frozen=True)
class ConvertedAudio:
    data: bytes
    mime_type: str
    converted: bool


def fit_audio(data: bytes, mime_type: str, channel: str) -> ConvertedAudio:
    """``data`` (audio of the checked ``mime_type``) in a format ``channel`` plays."""
    formats = AUDIO_FORMATS.get(channel)
    if formats is None or _plays(formats, data, mime_type):
        return ConvertedAudio(data, mime_type, converted=False)
    encoded = _encode(data, mime_type, formats.target)
    return ConvertedAudio(encoded, formats.target, converted=True)


def _plays(formats: AudioFormats, data: bytes, mime_type: str) -> bool:
    if mime_type not in formats.plays:
        return False
    codec = formats.codecs.get(mime_type)
    return codec is None or _codec(data, mime_type) == codec


def _codec(data: bytes, mime_type: str) -> str:
    """The codec of the file's first audio stream, per ffprobe."""
    with tempfile.TemporaryDirectory(prefix="parley-audio-") as folder:
        source = Path(folder, "source")
        source.write_bytes(data)
        entries = ("-select_streams", "a:0", "-show_entries", "stream=codec_name")
        plain = ("-of", "default=noprint_wrappers=1:nokey=1")
        found = _run("ffprobe", [*_input(mime_type, source), *entries, *plain])
    return found.decode("ascii", "replace").strip()


def _encode(data: bytes, mime_type: str, target: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="parley-audio-") as folder:
        source, output = Path(folder, "source"), Path(folder, "output")
        source.write_bytes(data)
        strip = ("-vn", "-map", "0:a:0", "-map_metadata", "-1")
        _run("ffmpeg", ["-nostdin", *_input(mime_type, source), *strip, *_ENCODERS[target], output])
        encoded = output.read_bytes() if output.exists() else b""
    if not encoded:
        raise InvalidMedia("the audio decodes to nothing")
    return encoded


def _input(mime_type: str, source: Path) -> list[str | Path]:
    demuxer = _DEMUXERS.get(mime_type)
    if demuxer is None:
        raise InvalidMedia(f"{mime_type} is no audio type Parley decodes")
    return ["-v", "error", "-protocol_whitelist", "file", "-f", demuxer, "-i", source]


def _run(program: str, arguments: Sequence[str | Path]) -> bytes:
    """``program``'s standard output; InvalidMedia when it fails on the file."""
    path = shutil.which(program)
    if path is None:
        raise ProcessorError(f"{program} is not installed")
    try:
        done = subprocess.run(
            [path, *arguments],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=FFMPEG_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ProcessorError(f"{program} took over {FFMPEG_SECONDS:g} s") from exc
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip()[-_STDERR_CHARS:]
        raise InvalidMedia(f"the audio does not decode: {said}")
    return done.stdout
