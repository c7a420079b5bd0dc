"""Media is told by its bytes: a declared type is checked, never believed."""

from __future__ import annotations

import pytest

from processors.media.validate import InvalidMedia, check, sniff
from tests.processors.media.samples import EICAR, image, pdf


def test_images_and_pdfs_are_told_by_their_first_bytes() -> None:
    assert sniff(image("JPEG")) == "image/jpeg"
    assert sniff(image("PNG")) == "image/png"
    assert sniff(image("WEBP")) == "image/webp"
    assert sniff(image("GIF", exif=False)) == "image/gif"
    assert sniff(pdf(1)) == "application/pdf"
    assert sniff(b"\x00\x00\x00\x18ftypmp42") == "video/mp4"
    assert sniff(b"OggS\x00\x02") == "audio/ogg"
    assert sniff(EICAR) is None


def test_a_file_that_is_what_it_claims_is_checked_with_its_family() -> None:
    checked = check(image("PNG"), "image/png", "whatsapp")
    assert (checked.mime_type, checked.type) == ("image/png", "image")
    assert check(pdf(2), None, "messenger").type == "document"


def test_a_declared_type_with_parameters_or_an_alias_matches_its_content() -> None:
    assert check(b"OggS\x00\x02" + bytes(30), "audio/ogg; codecs=opus", "whatsapp").type == "audio"
    assert check(image("JPEG"), "image/jpg", "slack").mime_type == "image/jpeg"


def test_a_container_takes_the_declared_type_it_holds() -> None:
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert check(b"PK\x03\x04" + bytes(30), docx, "whatsapp").mime_type == docx
    assert check(b"\x00\x00\x00\x18ftypisom", "audio/mp4", "slack").type == "audio"


def test_a_pdf_declared_as_an_image_is_invalid() -> None:
    with pytest.raises(
        InvalidMedia, match="declared image/jpeg but the content is application/pdf"
    ):
        check(pdf(1), "image/jpeg", "whatsapp")


def test_bytes_of_no_known_type_are_invalid_whatever_they_claim() -> None:
    with pytest.raises(InvalidMedia, match="no type Parley takes"):
        check(EICAR, "image/jpeg", "whatsapp")
    with pytest.raises(InvalidMedia):
        check(b"PK\x03\x04" + bytes(30), None, "slack")  # a bare zip: no document Parley takes


def test_a_type_the_channel_does_not_carry_is_invalid() -> None:
    with pytest.raises(InvalidMedia, match="web does not carry audio/ogg"):
        check(b"OggS\x00\x02" + bytes(30), "audio/ogg", "web")
    with pytest.raises(InvalidMedia, match="whatsapp does not carry image/gif"):
        check(image("GIF", exif=False), "image/gif", "whatsapp")


def test_a_flac_is_told_by_its_bytes_and_whatsapp_users_cannot_send_one() -> None:
    flac = b"fLaC\x00\x00\x00\x22" + bytes(34)
    assert sniff(flac) == "audio/flac"
    assert check(flac, "audio/x-flac", "slack").mime_type == "audio/flac"
    assert check(flac, None, "messenger").type == "audio"
    with pytest.raises(InvalidMedia, match="whatsapp does not carry audio/flac"):
        check(flac, "audio/flac", "whatsapp")
