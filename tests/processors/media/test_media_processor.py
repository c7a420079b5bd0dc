"""The media processor refuses what is invalid or infected before anything is stored, and
describes and keeps the rest as the channel can show it."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from processors.base import Kind, ProcessorError, Refused, Work
from processors.catalog import CATALOG
from processors.media.metadata import probe_duration
from processors.media.processor import INFECTED_REPLY, TOO_LARGE_REPLY, MediaProcessor
from processors.media.scan import Clamd
from processors.media.services import MediaServices, TooLarge
from processors.media.validate import sniff
from processors.pipeline import timeout_ms
from processors.registry import get_processor
from services.devstack import clamav
from services.devstack.service import bring_up
from tests.processors.media.samples import MAKE, amr, image, pdf, tone


@dataclass
class HeldMedia:
    """MediaServices over one file held in memory, the real clamd, and a list as the store."""

    data: bytes
    clamd: Clamd
    stored: list[dict[str, Any]] = field(default_factory=list)

    def fetch(self, work: Work, max_bytes: int) -> bytes:
        if len(self.data) > max_bytes:
            raise TooLarge(f"past {max_bytes} bytes")
        return self.data

    def scan(self, data: bytes) -> str | None:
        return self.clamd.scan(data)

    def store(self, tenant_id: str, data: bytes, mime_type: str, filename: str) -> str:
        self.stored.append(
            {"tenant_id": tenant_id, "data": data, "mime_type": mime_type, "filename": filename}
        )
        return f"blob-{len(self.stored)}"


@pytest.fixture(scope="module")
def clamd() -> Clamd:
    bring_up(clamav.service())
    return Clamd(clamav.HOST, clamav.PORT, timeout=10.0)


def work(
    services: MediaServices | None,
    content: dict[str, Any],
    channel: str = "whatsapp",
    **config: Any,
) -> Work:
    return Work(
        tenant_id="t1",
        message_id="msg_1",
        channel=channel,
        kind=Kind.MEDIA,
        text="",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        content=content,
        config={"processors": {"media": config}} if config else {},
        services=services,
    )


def test_the_media_processor_is_registered_for_media_messages() -> None:
    assert any(isinstance(p, MediaProcessor) for p in CATALOG)
    assert [p.name for p in get_processor(Kind.MEDIA)] == ["validation", "metadata", "media"]
    assert "media" not in [p.name for p in get_processor(Kind.TEXT)]


def test_the_media_processor_has_twenty_seconds_unless_the_tenant_says_otherwise() -> None:
    assert timeout_ms(MediaProcessor(), work(None, {})) == 20_000
    assert timeout_ms(MediaProcessor(), work(None, {}, timeout_ms=5_000)) == 5_000


def test_an_image_is_described_and_stored_without_its_exif(clamd: Clamd) -> None:
    services = HeldMedia(image("JPEG", (64, 32)), clamd)
    job = work(services, {"media_id": "m1", "mime_type": "image/jpeg"})

    MediaProcessor().run(job)

    [kept] = services.stored
    assert job.results["media"] == {
        "type": "image",
        "mime_type": "image/jpeg",
        "size": len(kept["data"]),
        "blob_id": "blob-1",
        "width": 64,
        "height": 32,
        "duration_seconds": None,
        "pages": None,
        "scan": "clean",
        "converted": False,
    }
    assert (kept["tenant_id"], kept["filename"]) == ("t1", "msg_1.jpg")
    assert MAKE not in Image.open(io.BytesIO(kept["data"])).getexif()


def test_a_pdf_is_counted_and_kept_under_its_own_name(clamd: Clamd) -> None:
    services = HeldMedia(pdf(2), clamd)
    job = work(services, {"media_id": "m1", "mime_type": "application/pdf", "filename": "bill.pdf"})
    MediaProcessor().run(job)
    assert job.results["media"]["pages"] == 2
    assert job.results["media"]["type"] == "document"
    assert services.stored[0]["filename"] == "bill.pdf"


def test_the_eicar_file_is_refused_as_infected_and_never_stored(clamd: Clamd) -> None:
    services = HeldMedia(clamav.EICAR, clamd)
    with pytest.raises(Refused) as refused:
        # Of no type Parley takes, but the scan comes first: the user hears it is unsafe.
        MediaProcessor().run(work(services, {"media_id": "m1", "mime_type": "image/jpeg"}))
    assert (refused.value.reason, refused.value.reply) == ("media:infected", INFECTED_REPLY)
    assert services.stored == []


def test_a_valid_image_carrying_the_test_marker_is_refused_as_infected(clamd: Clamd) -> None:
    services = HeldMedia(image("PNG") + clamav.TEST_MARKER, clamd)
    with pytest.raises(Refused) as refused:
        MediaProcessor().run(work(services, {"media_id": "m1", "mime_type": "image/png"}))
    assert (refused.value.reason, refused.value.reply) == ("media:infected", INFECTED_REPLY)
    assert services.stored == []


def test_a_pdf_sent_as_an_image_is_refused_as_invalid_and_never_stored(clamd: Clamd) -> None:
    services = HeldMedia(pdf(1), clamd)
    with pytest.raises(Refused) as refused:
        MediaProcessor().run(work(services, {"media_id": "m1", "mime_type": "image/jpeg"}))
    assert refused.value.reason == "media:invalid"
    assert services.stored == []


def test_a_file_past_the_tenants_limit_is_refused_with_its_own_reply(clamd: Clamd) -> None:
    services = HeldMedia(image("PNG", (64, 64)), clamd)
    with pytest.raises(Refused) as refused:
        MediaProcessor().run(work(services, {"mime_type": "image/png"}, max_bytes=100))
    assert (refused.value.reason, refused.value.reply) == ("media:invalid", TOO_LARGE_REPLY)
    assert services.stored == []


def test_an_image_the_channel_cannot_show_is_re_encoded_within_its_limits(clamd: Clamd) -> None:
    services = HeldMedia(image("WEBP", (5000, 100)), clamd)
    job = work(services, {"mime_type": "image/webp"}, channel="teams")
    MediaProcessor().run(job)
    media = job.results["media"]
    assert (media["mime_type"], media["converted"]) == ("image/jpeg", True)
    assert (media["width"], media["height"]) == (4096, 82)
    assert Image.open(io.BytesIO(services.stored[0]["data"])).format == "JPEG"


def test_a_flac_on_slack_is_stored_as_an_mp3(clamd: Clamd) -> None:
    services = HeldMedia(tone("flac", "flac", seconds=2.0), clamd)
    job = work(services, {"mime_type": "audio/x-flac"}, channel="slack")

    MediaProcessor().run(job)

    [kept] = services.stored
    media = job.results["media"]
    assert (media["type"], media["mime_type"], media["converted"]) == ("audio", "audio/mpeg", True)
    assert media["size"] == len(kept["data"]) != len(services.data)
    assert (kept["mime_type"], kept["filename"]) == ("audio/mpeg", "msg_1.mp3")
    assert sniff(kept["data"]) == "audio/mpeg"
    # The MP3's own length (its encoder adds a few ms of padding), not the FLAC's 2.000 s.
    assert (
        media["duration_seconds"] == probe_duration(kept["data"]) != probe_duration(services.data)
    )
    assert media["duration_seconds"] == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize(
    ("sample", "mime_type", "sent", "stored"),
    [
        (lambda: tone("flac", "flac"), "audio/flac", "memo.flac", "memo.mp3"),
        (amr, "audio/amr", "notes.2026.amr", "notes.2026.mp3"),
        (amr, "audio/amr", "memo", "memo.mp3"),
        (lambda: image("WEBP"), "image/webp", "photo.webp", "photo.jpg"),
    ],
    ids=["flac", "dotted-name", "no-extension", "image"],
)
def test_a_converted_file_keeps_its_name_with_its_new_types_extension(
    clamd: Clamd, sample: Callable[[], bytes], mime_type: str, sent: str, stored: str
) -> None:
    services = HeldMedia(sample(), clamd)
    job = work(services, {"mime_type": mime_type, "filename": sent}, channel="teams")

    MediaProcessor().run(job)

    assert job.results["media"]["converted"]
    assert services.stored[0]["filename"] == stored


def test_a_scanner_that_cannot_answer_fails_the_processor_and_nothing_is_stored() -> None:
    services = HeldMedia(image("PNG"), Clamd("127.0.0.1", 1, timeout=1.0))
    with pytest.raises(ProcessorError) as failed:
        MediaProcessor().run(work(services, {"mime_type": "image/png"}))
    assert not isinstance(failed.value, Refused)
    assert services.stored == []


def test_no_media_services_is_a_failure_not_a_crash() -> None:
    with pytest.raises(ProcessorError, match="no media services"):
        MediaProcessor().run(work(None, {"mime_type": "image/png"}))
