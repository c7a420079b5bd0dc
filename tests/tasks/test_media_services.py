"""A WhatsApp image webhook to the media processor, over the real WhatsApp fake, GridFS and
clamd: the image is fetched, checked, scanned, described and kept; the EICAR file sent the same
way is refused and never stored."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channel_scenarios import WhatsAppScenario
from PIL import Image
from pymongo.database import Database
from starlette.testclient import TestClient

from channels.runtime import ChannelRuntime, runtime_from_settings
from core.ids import new_id
from core.settings import Settings
from core.timeutil import utcnow
from ingress.app import create_app
from processors.base import Kind, ProcessorError, Refused, Work
from processors.media.processor import INFECTED_REPLY, MediaProcessor
from services.devstack import clamav
from services.devstack.service import bring_up
from storage.wiring import Storage
from tasks.media_services import media_services
from tests.credentials import tenant_headers
from tests.fakes import whatsapp as wa
from tests.fakes.accounts import ProviderAccounts
from tests.processors.media.samples import MAKE, image


class MediaTestClients(Storage):
    """This process's storage clients and a channel runtime, as a worker holds them."""

    channels: ChannelRuntime

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, redis_timeout_seconds=5.0)
        self.channels = runtime_from_settings(settings)

    def close(self) -> None:
        self.channels.close()
        super().close()


@pytest.fixture(scope="module")
def media_settings(providers: ProviderAccounts, settings: Settings) -> Settings:
    bring_up(clamav.service())
    # The fakes listen on loopback: development's permission for private addresses.
    return providers.settings(settings).model_copy(update={"media_allow_private_addresses": True})


@pytest.fixture(scope="module")
def client(media_settings: Settings, db: Database[Any]) -> Iterator[TestClient]:
    with TestClient(create_app(media_settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def clients(media_settings: Settings) -> Iterator[MediaTestClients]:
    held = MediaTestClients(media_settings)
    yield held
    held.close()


@pytest.fixture
def whatsapp(
    client: TestClient, media_settings: Settings, tenant: str, providers: ProviderAccounts
) -> tuple[WhatsAppScenario, str]:
    """A WhatsApp number connected for the tenant, and its webhook path."""
    scenario = WhatsAppScenario()
    body = providers.own(scenario.registration())
    headers = tenant_headers(media_settings, tenant)
    created = client.post("/v1/admin/channels", headers=headers, json=body)
    assert created.status_code == 201, created.text
    return scenario, f"/webhooks/whatsapp/{created.json()['id']}"


SendMedia = Callable[[bytes, str], Work]


@pytest.fixture
def send_media(
    client: TestClient,
    providers: ProviderAccounts,
    whatsapp: tuple[WhatsAppScenario, str],
    clients: MediaTestClients,
    db: Database[Any],
    tenant: str,
) -> SendMedia:
    """The user sends a file as a WhatsApp image; the stored message as the processor's work."""
    scenario, path = whatsapp

    def send(data: bytes, mime_type: str) -> Work:
        media_id = providers.whatsapp.add_media(data, mime_type)
        payload = wa.inbound_media(
            "image", media_id, mime_type, phone_number_id=scenario.account_id, user=scenario.user
        )
        raw, headers = wa.signed_webhook(payload, scenario.app_secret)
        assert client.post(path, content=raw, headers=headers).status_code == 200
        message = db["messages"].find_one({"tenant_id": tenant, "content.media_id": media_id})
        assert message is not None
        return Work(
            tenant_id=message["tenant_id"],
            message_id=message["_id"],
            channel=message["channel"],
            kind=Kind.MEDIA,
            text=message["text"],
            created_at=message["created_at"],
            content=message["content"],
            services=media_services(clients),
        )

    return send


def test_a_whatsapp_image_is_fetched_scanned_described_and_kept_without_exif(
    send_media: SendMedia, clients: MediaTestClients, tenant: str
) -> None:
    work = send_media(image("JPEG"), "image/jpeg")

    MediaProcessor().run(work)

    media = work.results["media"]
    assert {k: media[k] for k in ("type", "mime_type", "width", "height", "scan")} == {
        "type": "image",
        "mime_type": "image/jpeg",
        "width": 64,
        "height": 32,
        "scan": "clean",
    }
    blob = clients.blobs.get(tenant, media["blob_id"])
    assert blob.size == media["size"]
    assert MAKE not in Image.open(io.BytesIO(blob.data)).getexif()


def test_the_eicar_file_sent_as_an_image_is_refused_and_never_stored(
    send_media: SendMedia, clients: MediaTestClients, tenant: str
) -> None:
    work = send_media(clamav.EICAR, "image/jpeg")

    with pytest.raises(Refused) as refused:
        MediaProcessor().run(work)

    assert (refused.value.reason, refused.value.reply) == ("media:infected", INFECTED_REPLY)
    assert clients.blobs.count(tenant) == 0


def test_media_whatsapp_no_longer_has_fails_the_processor_and_stores_nothing(
    send_media: SendMedia, providers: ProviderAccounts, clients: MediaTestClients, tenant: str
) -> None:
    work = send_media(image("PNG"), "image/png")
    providers.whatsapp.media.pop(work.content["media_id"])

    with pytest.raises(ProcessorError) as failed:
        MediaProcessor().run(work)

    assert not isinstance(failed.value, Refused)
    assert clients.blobs.count(tenant) == 0


def test_a_widget_upload_is_read_from_the_visitors_own_uploads(
    clients: MediaTestClients, db: Database[Any], tenant: str
) -> None:
    photo = image("PNG", (30, 20))
    upload = clients.uploads.create(tenant, "wgt_1", "vis_1", "image/png", "me.png", photo)
    message_id = new_id("msg")
    attachment = {"upload_id": upload["_id"], "content_type": "image/png", "filename": "me.png"}
    db["messages"].insert_one(
        {
            "_id": message_id,
            "tenant_id": tenant,
            "channel": "web",
            "user_id": "vis_1",
            "reply_to": {"widget_id": "wgt_1"},
            "content": {"attachments": [attachment]},
        }
    )
    work = Work(
        tenant_id=tenant,
        message_id=message_id,
        channel="web",
        kind=Kind.MEDIA,
        text="",
        created_at=utcnow(),
        content={"attachments": [attachment]},
        services=media_services(clients),
    )

    MediaProcessor().run(work)

    media = work.results["media"]
    assert (media["width"], media["height"], media["mime_type"]) == (30, 20, "image/png")
    assert clients.blobs.get(tenant, media["blob_id"]).filename == "me.png"
