"""Races with a multi-part send. Status callbacks: a provider's word on part 1 arrives while the
deliver stage is still sending part 2; the stage's ``chat.message.sent`` event must not be lost,
a ``failed`` part must stop the rest, and a late ``failed`` never undoes ``read``. A stalled
copy: the stage's lease expired during a send and another copy took over; the stalled one must
not send the next part."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from channel_scenarios import WhatsAppScenario
from kafka_reader import EventReader
from pymongo.database import Database
from starlette.testclient import TestClient

from channels.runtime import ChannelRuntime, ProviderUrls
from core.crypto import SecretBox
from core.ids import new_id
from core.settings import Settings
from core.states import Status
from core.timeutil import utcnow
from ingress.app import create_app
from storage.channel_configs import ChannelConfigRepository
from storage.conversations import ConversationRepository
from storage.leases import Leases
from storage.messages import MessageRepository, reply_id
from storage.telemetry import QUEUE
from storage.turn_order import TurnOrder
from tasks.calls import provider_answered
from tasks.deliver import deliver
from tasks.runtime import clients
from tests.fakes.whatsapp import FakeWhatsApp


@pytest.fixture
def fake() -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp() as server:
        yield server


@pytest.fixture
def worker_channels(fake: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's worker clients send to the fake (the stage is called in a thread here)."""
    runtime = ChannelRuntime.create(
        ProviderUrls(whatsapp_api=fake.base_url), send_timeout=10.0, on_answer=provider_answered
    )  # as tasks/runtime.py builds it, pointed at the fake
    monkeypatch.setattr(clients(), "channels", runtime)
    yield
    runtime.close()


@pytest.fixture(scope="module")
def ingress(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(tenant_cache_seconds=0))) as client:
        yield client


def _generated_turn(
    db: Database[Any], settings: Settings, tenant: str, scenario: WhatsAppScenario, parts: int
) -> tuple[str, str]:
    """A WhatsApp turn whose reply of ``parts`` text parts is generated; (config id, turn id)."""
    box = SecretBox(settings.require_master_key())
    config = ChannelConfigRepository(db, box).create(
        tenant,
        "whatsapp",
        scenario.account_id,
        {
            "access_token": scenario.access_token,
            "app_secret": scenario.app_secret,
            "verify_token": scenario.verify_token,
        },
        {},
    )
    message_id = new_id("msg")
    conversation = ConversationRepository(db).resolve_open(
        tenant, "whatsapp", scenario.user, message_id
    )
    now = utcnow()
    common = {
        "tenant_id": tenant,
        "conversation_id": conversation,
        "channel": "whatsapp",
        "channel_config_id": config["_id"],
        "user_id": scenario.user,
        "created_at": now,
        "updated_at": now,
    }
    repo = MessageRepository(db)
    repo.insert_once(
        {
            **common,
            "_id": message_id,
            "direction": "inbound",
            "text": "hi",
            "dedupe_key": f"msg:{message_id}",
            "status": Status.GENERATED.value,
            "journey": {"accepted": now, "generated": now},
        }
    )
    texts = [f"part {n}" for n in range(1, parts + 1)]
    repo.insert_reply(
        {
            **common,
            "_id": reply_id(message_id),
            "direction": "outbound",
            "in_reply_to": message_id,
            "dedupe_key": f"reply:{reply_id(message_id)}",
            "text": "\n".join(texts),
            "parts": [{"type": "text", "text": text} for text in texts],
            "status": Status.GENERATED.value,
            "journey": {"generated": now},
        }
    )
    TurnOrder(clients().redis).rebuild([(tenant, conversation, message_id)])
    return config["_id"], message_id


def _deliver_while(
    fake: FakeWhatsApp, tenant: str, message_id: str, callback: Any, parts_before: int = 1
) -> None:
    """Run the deliver stage; once ``parts_before`` parts were answered and the next one is at
    the provider (held back by the fake), call ``callback`` with the answered parts' wamids."""
    fake.delay_next(0.001, times=parts_before)  # answered at once
    fake.delay_next(3.0)
    done = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            deliver(tenant, message_id)
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30

    def held() -> bool:  # the part after them is at the provider, waiting for its answer
        return len(fake.requests_to("/messages")) > parts_before

    while not held() and not done.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    if failure:
        raise failure[0]
    assert held() and len(fake.sent) == parts_before, "the parts never reached the provider"
    callback([sent.wamid for sent in fake.sent])
    assert done.wait(30)
    thread.join()
    if failure:
        raise failure[0]


def _post_status(
    ingress: TestClient, config_id: str, scenario: WhatsAppScenario, wamid: str, state: str
) -> None:
    raw, headers = scenario.status(wamid, state)
    answer = ingress.post(f"/webhooks/whatsapp/{config_id}", content=raw, headers=headers)
    assert answer.status_code == 200, answer.text


def test_a_delivered_callback_for_part_one_does_not_lose_the_sent_event(
    db: Database[Any],
    settings: Settings,
    tenant: str,
    fake: FakeWhatsApp,
    worker_channels: None,
    ingress: TestClient,
) -> None:
    scenario = WhatsAppScenario()
    config_id, message_id = _generated_turn(db, settings, tenant, scenario, parts=3)
    _deliver_while(
        fake,
        tenant,
        message_id,
        lambda wamids: _post_status(ingress, config_id, scenario, wamids[0], "delivered"),
    )
    reply = db["messages"].find_one({"_id": reply_id(message_id)})
    assert reply is not None
    assert [sent.body["text"]["body"] for sent in fake.sent] == ["part 1", "part 2", "part 3"]
    assert reply["status"] == Status.DELIVERED.value  # the callback's word, applied after sent
    # The sent event, then the delivered one the callback's word made, once each.
    assert [event["id"] for event in reply.get("outbox", [])] == [
        f"{reply['_id']}:sent",
        f"{reply['_id']}:delivered",
    ]
    assert list(reply["journey"]) == ["generated", "sending", "sent", "delivered"]


def test_a_failed_part_stops_the_parts_after_it(
    db: Database[Any],
    settings: Settings,
    tenant: str,
    fake: FakeWhatsApp,
    worker_channels: None,
    ingress: TestClient,
) -> None:
    scenario = WhatsAppScenario()
    config_id, message_id = _generated_turn(db, settings, tenant, scenario, parts=3)
    _deliver_while(
        fake,
        tenant,
        message_id,
        lambda wamids: _post_status(ingress, config_id, scenario, wamids[0], "failed"),
    )
    # Part 2 was already on its way when part 1's failure arrived; part 3 never goes.
    assert [sent.body["text"]["body"] for sent in fake.sent] == ["part 1", "part 2"]
    reply = db["messages"].find_one({"_id": reply_id(message_id)})
    inbound = db["messages"].find_one({"_id": message_id})
    assert reply is not None and inbound is not None
    assert reply["status"] == Status.FAILED.value
    assert inbound["status"] == Status.DEAD_LETTERED.value
    assert db["dead_letters"].count_documents({"tenant_id": tenant, "message_id": message_id}) == 1


def test_a_late_failed_callback_never_undoes_read(
    db: Database[Any],
    settings: Settings,
    tenant: str,
    fake: FakeWhatsApp,
    worker_channels: None,
    ingress: TestClient,
) -> None:
    scenario = WhatsAppScenario()
    config_id, message_id = _generated_turn(db, settings, tenant, scenario, parts=1)
    deliver(tenant, message_id)
    wamid = fake.sent[0].wamid
    for state in ("read", "failed"):
        _post_status(ingress, config_id, scenario, wamid, state)
    reply = db["messages"].find_one({"_id": reply_id(message_id)})
    assert reply is not None and reply["status"] == Status.READ.value


def test_a_copy_that_stalled_past_its_lease_sends_no_further_part(
    db: Database[Any],
    settings: Settings,
    tenant: str,
    fake: FakeWhatsApp,
    worker_channels: None,
) -> None:
    scenario = WhatsAppScenario()
    _, message_id = _generated_turn(db, settings, tenant, scenario, parts=3)
    rid = reply_id(message_id)

    def take_over(_: list[str]) -> None:
        # Part 2 hangs past the lease: it expires and a redelivered copy takes it over.
        name = f"deliver:{tenant}:{rid}"
        clients().redis.delete(f"parley:lease:{name}")
        assert Leases(clients().redis).acquire(name, 60) is not None

    _deliver_while(fake, tenant, message_id, take_over)
    # The stalled copy recorded the part it had sent, and sent nothing after it.
    assert [sent.body["text"]["body"] for sent in fake.sent] == ["part 1", "part 2"]
    reply = db["messages"].find_one({"_id": rid})
    assert reply is not None
    assert reply["status"] == Status.SENDING.value and reply["sent_parts"] == 2


def test_whatsapp_delivered_and_read_callbacks_reach_kafka_as_receipt_events(
    db: Database[Any],
    redis_client: redis.Redis,
    settings: Settings,
    tenant: str,
    fake: FakeWhatsApp,
    worker_channels: None,
    ingress: TestClient,
) -> None:
    scenario = WhatsAppScenario()
    config_id, message_id = _generated_turn(db, settings, tenant, scenario, parts=1)
    deliver(tenant, message_id)
    [sent] = fake.sent
    # The send itself is told as a provider call of the reply: whatsapp answered 200.
    called = [
        event
        for event in map(json.loads, redis_client.lrange(QUEUE, 0, -1))
        if event["type"] == "integration.api.called"
        and event["data"]["message_id"] == reply_id(message_id)
    ]
    assert [(c["data"]["target"], c["data"]["status"], c["data"]["outcome"]) for c in called] == [
        ("whatsapp", 200, "ok")
    ]
    assert called[0]["data"]["operation"].startswith("POST /")
    reader = EventReader(settings.kafka_bootstrap, ["chat.message.delivered", "chat.message.read"])
    try:
        for state in ("delivered", "read", "delivered"):  # a late repeat changes nothing
            _post_status(ingress, config_id, scenario, sent.wamid, state)
        reply = db["messages"].find_one({"_id": reply_id(message_id)})
        assert reply is not None and reply["status"] == Status.READ.value
        clients().relay.publish_documents([reply], timeout=20)
        ids = {f"{reply['_id']}:delivered", f"{reply['_id']}:read"}
        reader.collect(lambda seen: ids <= {e["id"] for e in seen}, 30)
        records = [(topic, body, headers) for topic, _, body, headers in reader.seen]
    finally:
        reader.close()
    # Two topics are read, so they arrive in either order; their conversation's sequence
    # numbers tell the order they happened in: delivered, then read.
    ours = sorted(
        ((topic, body, headers) for topic, body, headers in records if body["id"] in ids),
        key=lambda record: int(record[1]["data"]["sequence"]),
    )
    assert [topic for topic, _, _ in ours] == ["chat.message.delivered", "chat.message.read"]
    assert len({b["data"]["sequence"] for _, b, _ in ours}) == 2
    for topic, body, headers in ours:
        assert headers["ce_type"] == topic.encode() and headers["ce_id"] == body["id"].encode()
        assert headers["ce_tenantid"] == tenant.encode()
        assert body["data"]["status"] == topic.rsplit(".", 1)[1]
        assert body["data"]["provider_message_id"] == sent.wamid
        assert body["data"]["conversation_id"] == reply["conversation_id"]
