"""Audio reaches storage in a format its channel plays: converted by ffmpeg when it must be,
kept byte for byte when it need not be."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from processors.base import ProcessorError
from processors.media import audio
from processors.media.audio import fit_audio
from processors.media.metadata import probe_duration
from processors.media.validate import InvalidMedia, sniff
from tests.processors.media.samples import TONE_TITLE, amr, tone


def probed(data: bytes) -> dict[str, str]:
    """The first audio stream's codec and the file's tags, as ffprobe reads them."""
    with tempfile.NamedTemporaryFile() as file:
        file.write(data)
        file.flush()
        entries = ("-show_entries", "stream=codec_name:stream_tags:format_tags")
        argv = ["ffprobe", "-v", "error", "-select_streams", "a:0", *entries, "-of", "json"]
        done = subprocess.run([*argv, file.name], capture_output=True, check=True)
    found = json.loads(done.stdout)
    [stream] = found["streams"]
    tags = {**found.get("format", {}).get("tags", {}), **stream.get("tags", {})}
    return {"codec": stream["codec_name"], **{k.lower(): v for k, v in tags.items()}}


def test_a_wav_for_whatsapp_becomes_an_ogg_opus_of_the_same_length() -> None:
    wav = tone("pcm_s16le", "wav")

    fitted = fit_audio(wav, "audio/wav", "whatsapp")

    assert (fitted.mime_type, fitted.converted) == ("audio/ogg", True)
    assert sniff(fitted.data) == "audio/ogg"
    assert probed(fitted.data)["codec"] == "opus"
    assert probe_duration(fitted.data) == pytest.approx(1.0, abs=0.1)


def test_an_ogg_opus_for_whatsapp_is_kept_byte_for_byte() -> None:
    opus = tone("libopus", "ogg")

    fitted = fit_audio(opus, "audio/ogg", "whatsapp")

    assert (fitted.data, fitted.mime_type, fitted.converted) == (opus, "audio/ogg", False)


def test_an_ogg_vorbis_for_whatsapp_is_converted_to_opus() -> None:
    vorbis = tone("libvorbis", "ogg")
    assert probed(vorbis)["codec"] == "vorbis"

    fitted = fit_audio(vorbis, "audio/ogg", "whatsapp")

    assert (fitted.mime_type, fitted.converted) == ("audio/ogg", True)
    assert probed(fitted.data)["codec"] == "opus"


def test_a_flac_for_slack_becomes_an_mp3() -> None:
    flac = tone("flac", "flac")

    fitted = fit_audio(flac, "audio/flac", "slack")

    assert (fitted.mime_type, fitted.converted) == ("audio/mpeg", True)
    assert sniff(fitted.data) == "audio/mpeg"
    assert probed(fitted.data)["codec"] == "mp3"
    assert probe_duration(fitted.data) == pytest.approx(1.0, abs=0.1)


def test_an_amr_voice_note_for_messenger_becomes_an_mp3_and_for_whatsapp_is_kept() -> None:
    voice = amr(seconds=1.0)

    fitted = fit_audio(voice, "audio/amr", "messenger")

    assert (fitted.mime_type, fitted.converted) == ("audio/mpeg", True)
    assert probed(fitted.data)["codec"] == "mp3"
    assert fit_audio(voice, "audio/amr", "whatsapp").data == voice


def test_an_mp3_for_messenger_is_kept_byte_for_byte() -> None:
    mp3 = tone("libmp3lame", "mp3")

    fitted = fit_audio(mp3, "audio/mpeg", "messenger")

    assert (fitted.data, fitted.mime_type, fitted.converted) == (mp3, "audio/mpeg", False)


def test_a_channel_parley_has_no_audio_formats_for_keeps_the_file() -> None:
    wav = tone("pcm_s16le", "wav")
    assert fit_audio(wav, "audio/wav", "telegram") == audio.ConvertedAudio(
        wav, "audio/wav", converted=False
    )


@pytest.mark.parametrize(
    ("codec", "muxer", "mime_type", "channel"),
    [("flac", "flac", "audio/flac", "teams"), ("pcm_s16le", "wav", "audio/wav", "whatsapp")],
)
def test_a_converted_file_keeps_none_of_the_recordings_tags(
    codec: str, muxer: str, mime_type: str, channel: str
) -> None:
    recording = tone(codec, muxer)
    assert probed(recording)["title"] == TONE_TITLE

    fitted = fit_audio(recording, mime_type, channel)

    assert fitted.converted
    assert "title" not in probed(fitted.data)
    assert TONE_TITLE.encode() not in fitted.data


def test_bytes_claiming_to_be_a_wav_that_do_not_decode_are_invalid() -> None:
    garbage = b"RIFF\x24\x00\x00\x00WAVE" + b"\x9c\x01not a wave file at all" * 20
    assert sniff(garbage) == "audio/wav"

    with pytest.raises(InvalidMedia, match="does not decode"):
        fit_audio(garbage, "audio/wav", "whatsapp")


def test_without_ffmpeg_the_processor_fails_rather_than_refusing_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wav = tone("pcm_s16le", "wav")
    monkeypatch.setenv("PATH", "")

    with pytest.raises(ProcessorError, match="ffmpeg is not installed") as failed:
        fit_audio(wav, "audio/wav", "whatsapp")
    assert not isinstance(failed.value, InvalidMedia)


def test_an_ffmpeg_past_its_time_fails_the_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    wav = tone("pcm_s16le", "wav")
    monkeypatch.setattr(audio, "FFMPEG_SECONDS", 0.001)

    with pytest.raises(ProcessorError, match="took over") as failed:
        fit_audio(wav, "audio/wav", "whatsapp")
    assert not isinstance(failed.value, InvalidMedia)


def test_no_temp_file_outlives_a_conversion(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flac = tone("flac", "flac")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    assert fit_audio(flac, "audio/flac", "messenger").converted
    assert list(tmp_path.iterdir()) == []
