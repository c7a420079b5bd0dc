"""A user's file is downloaded through its channel, within a size limit and a timeout, and
never from a private address unless development allows it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest

from channels.media import MediaTooLarge, MediaUnavailable, download_media, fetch_url
from channels.runtime import ChannelRuntime, ProviderUrls
from core.envelopes import ChannelConfig
from tests.fakes.whatsapp import DEFAULT_ACCESS_TOKEN, DEFAULT_PHONE_NUMBER_ID, FakeWhatsApp

PHOTO = b"\xff\xd8\xff\xe0" + bytes(2000)


@pytest.fixture
def fake() -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp() as provider:
        yield provider


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture
def runtime(fake: FakeWhatsApp, http: httpx.Client) -> ChannelRuntime:
    """The fake is on loopback: development's permission for private addresses is on."""
    return ChannelRuntime(
        http=http,
        urls=ProviderUrls(whatsapp_api=fake.base_url),
        media_timeout=1.0,
        allow_private_media=True,
    )


@pytest.fixture
def production(runtime: ChannelRuntime) -> ChannelRuntime:
    return dataclasses.replace(runtime, allow_private_media=False)


def config(token: str = DEFAULT_ACCESS_TOKEN) -> ChannelConfig:
    return ChannelConfig(
        id="chc_1",
        tenant_id="t1",
        channel="whatsapp",
        account_id=DEFAULT_PHONE_NUMBER_ID,
        secrets={"access_token": token},
    )


def test_whatsapp_media_is_looked_up_by_id_then_downloaded_with_the_token(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    media_id = fake.add_media(PHOTO, "image/jpeg")

    data = download_media("whatsapp", {"media_id": media_id}, config(), runtime, 10_000)

    assert data == PHOTO
    lookup, download = fake.requests
    assert (lookup.path, download.path) == (f"/{media_id}", f"/media-download/{media_id}")
    auth = f"Bearer {DEFAULT_ACCESS_TOKEN}"
    assert lookup.headers["authorization"] == download.headers["authorization"] == auth


def test_a_file_whatsapp_says_is_too_large_is_never_downloaded(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    media_id = fake.add_media(PHOTO, "image/jpeg")
    with pytest.raises(MediaTooLarge):
        download_media("whatsapp", {"media_id": media_id}, config(), runtime, 1000)
    assert [r.path for r in fake.requests] == [f"/{media_id}"]


def test_a_download_past_the_limit_stops_without_a_declared_length(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    media_id = fake.add_media(PHOTO, "image/jpeg")
    url = f"{fake.base_url}/media-download/{media_id}"
    headers = {"Authorization": f"Bearer {DEFAULT_ACCESS_TOKEN}"}
    with pytest.raises(MediaTooLarge):
        fetch_url(runtime, url, headers, 1000)


def test_a_wrong_token_is_unavailable_media(fake: FakeWhatsApp, runtime: ChannelRuntime) -> None:
    media_id = fake.add_media(PHOTO, "image/jpeg")
    with pytest.raises(MediaUnavailable, match="HTTP 401"):
        download_media("whatsapp", {"media_id": media_id}, config("wrong"), runtime, 10_000)


def test_a_provider_that_never_answers_times_out(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    media_id = fake.add_media(PHOTO, "image/jpeg")
    fake.hang_next()
    with pytest.raises(MediaUnavailable, match="look-up failed: ReadTimeout"):
        download_media("whatsapp", {"media_id": media_id}, config(), runtime, 10_000)


def test_a_url_on_a_private_address_is_refused_outside_development(
    fake: FakeWhatsApp, production: ChannelRuntime
) -> None:
    media_id = fake.add_media(PHOTO, "image/jpeg")
    with pytest.raises(MediaUnavailable, match="private address"):
        download_media("whatsapp", {"media_id": media_id}, config(), production, 10_000)
    for url in ("http://10.0.0.5/x.jpg", "http://[::1]/x.jpg", "http://169.254.169.254/latest"):
        with pytest.raises(MediaUnavailable, match="private address"):
            download_media("messenger", {"url": url}, None, production, 10)
    assert fake.requests_to("/media-download/" + media_id) == []


def test_only_http_urls_are_fetched(fake: FakeWhatsApp, runtime: ChannelRuntime) -> None:
    with pytest.raises(MediaUnavailable, match="not an http"):
        download_media("teams", {"url": "file:///etc/passwd"}, None, runtime, 10_000)


def test_a_channel_without_downloads_is_unavailable(
    fake: FakeWhatsApp, runtime: ChannelRuntime
) -> None:
    with pytest.raises(MediaUnavailable, match="no media download"):
        download_media("api", {}, None, runtime, 10_000)
