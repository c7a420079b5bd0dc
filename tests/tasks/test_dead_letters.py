"""Dead letters against real MongoDB and Redis: recording, the API, replays and the CLI."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.errors import Conflict
from core.ids import new_id
from core.settings import Settings
from core.timeutil import isoformat, utcnow
from core.tokens import mint_token
from ingress.app import create_app
from storage.claims import Claims
from storage.dead_letters import REPLAY_CLAIM_SECONDS, DeadLetterRepository
from storage.documents import DeadLetterDocument

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def repo(db: Database[Any]) -> DeadLetterRepository:
    return DeadLetterRepository(db)


def auth(settings: Settings, tenant: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {mint_token(settings.require_jwt_secret(), tenant, 'u', 600)}"
    }


def dead_lettered_message(db: Database[Any], tenant: str, channel: str = "api") -> str:
    """Store an inbound message whose turn was dead-lettered, as the workers leave it."""
    message_id = new_id("msg")
    now = utcnow()
    db["messages"].insert_one(
        {
            "_id": message_id,
            "tenant_id": tenant,
            "conversation_id": "conv_" + message_id[4:],
            "channel": channel,
            "direction": "inbound",
            "user_id": "ana",
            "text": "hello",
            "metadata": {},
            "dedupe_key": f"msg:{message_id}",
            "status": "dead_lettered",
            "attempts": 5,
            "journey": {"accepted": now, "processed": now, "generated": now},
            "created_at": now,
            "updated_at": now,
        }
    )
    return message_id


def record(
    repo: DeadLetterRepository,
    tenant: str,
    message_id: str,
    *,
    stage: str = "deliver",
    channel: str = "api",
    classification: str = "exhausted",
    attempts: int = 5,
    error_message: str = "provider answered 503",
) -> DeadLetterDocument:
    return repo.record(
        tenant_id=tenant,
        message_id=message_id,
        conversation_id="conv_" + message_id[4:],
        channel=channel,
        stage=stage,
        attempts=attempts,
        error_type="TransientError",
        error_message=error_message,
        classification=classification,
        at=utcnow(),
    )


def queued_tasks(broker: redis.Redis, queue: str) -> list[tuple[str, list[Any], list[str]]]:
    """Each queued task as (name, args, names of the chained tasks after it)."""
    tasks = []
    for raw in broker.lrange(queue, 0, -1):
        envelope = json.loads(raw)
        args, _kwargs, embed = json.loads(base64.b64decode(envelope["body"]))
        # Celery keeps the rest of a chain last task first.
        rest = [signature["task"] for signature in reversed(embed.get("chain") or [])]
        tasks.append((envelope["headers"]["task"], args, rest))
    return tasks


def ids(response: httpx.Response) -> list[str]:
    return [item["id"] for item in response.json()["data"]]


def test_recording_a_failure_twice_keeps_one_dead_letter_and_its_first_attempt_time(
    db: Database[Any], repo: DeadLetterRepository, tenant: str
) -> None:
    message_id = new_id("msg")
    first_at = utcnow() - timedelta(minutes=5)
    later_at = utcnow()
    fields: dict[str, Any] = {
        "tenant_id": tenant,
        "message_id": message_id,
        "conversation_id": "conv_1",
        "channel": "whatsapp",
        "stage": "generate",
        "error_type": "EngineUnavailable",
        "classification": "engine_unavailable",
    }
    repo.record(**fields, attempts=3, error_message="first", at=first_at)
    stored = repo.record(**fields, attempts=5, error_message="x" * 900, at=later_at)

    assert db["dead_letters"].count_documents({"tenant_id": tenant}) == 1
    assert stored["_id"] == f"dl_{message_id}_generate"
    assert stored["first_attempt_at"] == first_at
    assert stored["last_attempt_at"] == later_at
    assert stored["attempts"] == 5
    assert stored["last_error"] == {
        "type": "EngineUnavailable",
        "message": "x" * 500,
        "classification": "engine_unavailable",
    }
    assert stored["state"] == "open"
    assert stored["replays"] == 0


def test_recording_rejects_an_unknown_stage_or_classification(
    repo: DeadLetterRepository, tenant: str
) -> None:
    with pytest.raises(ValueError, match=r"unknown stage 'parley\.deliver'"):
        record(repo, tenant, new_id("msg"), stage="parley.deliver")
    with pytest.raises(ValueError, match="unknown classification 'flaky'"):
        record(repo, tenant, new_id("msg"), classification="flaky")


def test_another_tenant_cannot_record_onto_a_dead_letter(
    repo: DeadLetterRepository, tenant: str
) -> None:
    letter = record(repo, tenant, new_id("msg"))
    with pytest.raises(Conflict, match=f"dead letter {letter['_id']} could not be recorded"):
        record(repo, tenant + "-other", letter["message_id"], error_message="overwritten")
    assert repo.get(tenant, letter["_id"])["last_error"]["message"] == "provider answered 503"


def test_a_turn_that_fails_again_after_its_replay_is_open_again_and_keeps_its_replay_count(
    repo: DeadLetterRepository, tenant: str
) -> None:
    message_id = new_id("msg")
    letter = record(repo, tenant, message_id, attempts=5)
    claimed = repo.claim_replay(tenant, letter["_id"])
    assert claimed is not None
    assert repo.finish_replay(tenant, claimed, replayed=True) is True
    replayed = repo.get(tenant, letter["_id"])
    assert (replayed["state"], replayed["replays"]) == ("replayed", 1)

    again = record(repo, tenant, message_id, attempts=2)

    assert (again["state"], again["replays"], again["attempts"]) == ("open", 1, 2)
    assert again["replayed_at"] == replayed["replayed_at"]


def test_a_replay_that_enqueued_nothing_leaves_the_dead_letter_open(
    repo: DeadLetterRepository, tenant: str
) -> None:
    letter = record(repo, tenant, new_id("msg"))
    claimed = repo.claim_replay(tenant, letter["_id"])
    assert claimed is not None
    assert repo.claim_replay(tenant, letter["_id"]) is None
    assert repo.finish_replay(tenant, claimed, replayed=False) is True
    reopened = repo.get(tenant, letter["_id"])
    assert (reopened["state"], reopened["replays"]) == ("open", 0)


def test_of_many_racing_claims_exactly_one_wins(repo: DeadLetterRepository, tenant: str) -> None:
    letter = record(repo, tenant, new_id("msg"))
    start = threading.Barrier(8)
    won: list[DeadLetterDocument] = []

    def claim() -> None:
        start.wait()
        claimed = repo.claim_replay(tenant, letter["_id"])
        if claimed is not None:
            won.append(claimed)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [doc["state"] for doc in won] == ["replaying"]
    assert repo.get(tenant, letter["_id"])["state"] == "replaying"


def after_the_claim_expired() -> datetime:
    """The clock of a replay that comes once a claim taken now has expired."""
    return utcnow() + timedelta(seconds=REPLAY_CLAIM_SECONDS + 1)


def test_a_replay_that_died_before_finishing_is_taken_over_once_its_claim_expires(
    db: Database[Any], repo: DeadLetterRepository, tenant: str
) -> None:
    letter = record(repo, tenant, new_id("msg"))
    assert repo.claim_replay(tenant, letter["_id"]) is not None  # its process dies here
    assert repo.claim_replay(tenant, letter["_id"]) is None  # a live claim is respected
    later = DeadLetterRepository(db, clock=after_the_claim_expired)

    claimed = later.claim_replay(tenant, letter["_id"])

    assert claimed is not None
    assert later.finish_replay(tenant, claimed, replayed=True) is True
    stored = repo.get(tenant, letter["_id"])
    assert (stored["state"], stored["replays"]) == ("replayed", 1)
    assert list(db["dead_letter_claims"].find({"tenant_id": tenant})) == []


def test_a_replay_that_died_between_its_claim_and_the_state_change_is_taken_over_too(
    db: Database[Any], repo: DeadLetterRepository, tenant: str
) -> None:
    letter = record(repo, tenant, new_id("msg"))
    assert Claims(db["dead_letter_claims"], REPLAY_CLAIM_SECONDS).take(letter["_id"], tenant)
    assert repo.claim_replay(tenant, letter["_id"]) is None
    later = DeadLetterRepository(db, clock=after_the_claim_expired)

    claimed = later.claim_replay(tenant, letter["_id"])

    assert claimed is not None
    assert later.finish_replay(tenant, claimed, replayed=False) is True
    assert repo.get(tenant, letter["_id"])["state"] == "open"


def test_of_many_replays_racing_to_take_over_a_dead_claim_exactly_one_wins(
    db: Database[Any], repo: DeadLetterRepository, tenant: str
) -> None:
    letter = record(repo, tenant, new_id("msg"))
    assert repo.claim_replay(tenant, letter["_id"]) is not None  # its process dies here
    later = DeadLetterRepository(db, clock=after_the_claim_expired)
    start = threading.Barrier(8)
    won: list[DeadLetterDocument] = []

    def claim() -> None:
        start.wait()
        claimed = later.claim_replay(tenant, letter["_id"])
        if claimed is not None:
            won.append(claimed)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [doc["state"] for doc in won] == ["replaying"]


def test_a_replay_that_outlived_its_claim_cannot_finish_over_its_successor(
    db: Database[Any], repo: DeadLetterRepository, tenant: str
) -> None:
    letter = record(repo, tenant, new_id("msg"))
    slow = repo.claim_replay(tenant, letter["_id"])
    assert slow is not None
    later = DeadLetterRepository(db, clock=after_the_claim_expired)
    successor = later.claim_replay(tenant, letter["_id"])
    assert successor is not None

    assert repo.finish_replay(tenant, slow, replayed=False) is False

    assert repo.get(tenant, letter["_id"])["state"] == "replaying"
    assert repo.claim_replay(tenant, letter["_id"]) is None  # the successor's claim holds
    assert later.finish_replay(tenant, successor, replayed=True) is True
    assert repo.get(tenant, letter["_id"])["state"] == "replayed"


def test_the_list_shows_each_dead_letter_and_filters_by_channel_stage_reason_and_state(
    client: TestClient, settings: Settings, repo: DeadLetterRepository, tenant: str
) -> None:
    first = new_id("msg")
    slack = record(repo, tenant, first, channel="slack", stage="deliver")
    engine = record(
        repo, tenant, new_id("msg"), stage="generate", classification="engine_unavailable"
    )
    poison = record(repo, tenant, new_id("msg"), stage="process", classification="poison")
    replayed = record(repo, tenant, new_id("msg"))
    claimed = repo.claim_replay(tenant, replayed["_id"])
    assert claimed is not None
    repo.finish_replay(tenant, claimed, replayed=True)
    headers = auth(settings, tenant)

    everything_open = client.get("/v1/dead-letters", headers=headers)
    assert everything_open.status_code == 200
    assert ids(everything_open) == [slack["_id"], engine["_id"], poison["_id"]]
    assert everything_open.json()["next_cursor"] is None
    assert everything_open.json()["data"][0] == {
        "id": f"dl_{first}_deliver",
        "message_id": first,
        "conversation_id": "conv_" + first[4:],
        "channel": "slack",
        "stage": "deliver",
        "attempts": 5,
        "last_error": {
            "type": "TransientError",
            "message": "provider answered 503",
            "classification": "exhausted",
        },
        "first_attempt_at": isoformat(slack["first_attempt_at"]),
        "last_attempt_at": isoformat(slack["last_attempt_at"]),
        "state": "open",
        "replays": 0,
    }

    def listed(query: str) -> list[str]:
        response = client.get(f"/v1/dead-letters?{query}", headers=headers)
        assert response.status_code == 200
        return ids(response)

    assert listed("channel=slack") == [slack["_id"]]
    assert listed("stage=generate") == [engine["_id"]]
    assert listed("reason=poison") == [poison["_id"]]
    assert listed("state=replayed") == [replayed["_id"]]
    assert listed("state=all") == [slack["_id"], engine["_id"], poison["_id"], replayed["_id"]]
    assert listed("channel=api&reason=exhausted&state=all") == [replayed["_id"]]
    assert listed("channel=&stage=&reason=") == [slack["_id"], engine["_id"], poison["_id"]]


def test_the_list_pages_through_every_dead_letter_in_id_order(
    client: TestClient, settings: Settings, repo: DeadLetterRepository, tenant: str
) -> None:
    letters = [record(repo, tenant, new_id("msg"))["_id"] for _ in range(5)]
    headers = auth(settings, tenant)
    seen: list[str] = []
    pages = 0
    url = "/v1/dead-letters?limit=2"
    while True:
        response = client.get(url, headers=headers)
        assert response.status_code == 200
        pages += 1
        seen += ids(response)
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        url = f"/v1/dead-letters?limit=2&cursor={cursor}"
    assert seen == letters
    assert pages == 3


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("limit=0", "invalid-limit"),
        ("limit=ten", "invalid-limit"),
        ("cursor=bm90LW91cnM", "invalid-cursor"),
        ("cursor=%25%25", "invalid-cursor"),
        ("stage=parley.deliver", "invalid-filter"),
        ("reason=flaky", "invalid-filter"),
        ("state=closed", "invalid-filter"),
    ],
)
def test_a_bad_list_query_is_a_400_problem(
    client: TestClient, settings: Settings, tenant: str, query: str, problem: str
) -> None:
    response = client.get(f"/v1/dead-letters?{query}", headers=auth(settings, tenant))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"https://parley.dev/problems/{problem}"


def test_the_list_needs_a_bearer_token(client: TestClient) -> None:
    assert client.get("/v1/dead-letters").status_code == 401


def test_another_tenants_dead_letter_is_not_found_and_not_listed(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    broker: redis.Redis,
    repo: DeadLetterRepository,
    tenant: str,
) -> None:
    broker.delete("deliver")
    letter = record(repo, tenant, dead_lettered_message(db, tenant))
    intruder = auth(settings, tenant + "-other")
    path = f"/v1/dead-letters/{letter['_id']}"

    listing = client.get("/v1/dead-letters?state=all", headers=intruder)
    assert listing.status_code == 200
    assert listing.json() == {"data": [], "next_cursor": None}
    for response in (
        client.get(path, headers=intruder),
        client.post(f"{path}/replay", headers=intruder),
        client.delete(path, headers=intruder),
    ):
        assert response.status_code == 404
        assert response.json()["type"] == "https://parley.dev/problems/not-found"
    assert repo.get(tenant, letter["_id"])["state"] == "open"
    assert broker.llen("deliver") == 0


def test_replaying_a_dead_letter_rewinds_its_turn_and_enqueues_the_failed_stage_once(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    broker: redis.Redis,
    repo: DeadLetterRepository,
    tenant: str,
) -> None:
    broker.delete("deliver")
    message_id = dead_lettered_message(db, tenant)
    letter = record(repo, tenant, message_id, stage="deliver")
    headers = auth(settings, tenant)

    response = client.post(f"/v1/dead-letters/{letter['_id']}/replay", headers=headers)

    assert response.status_code == 202
    assert response.json() == {
        "id": f"dl_{message_id}_deliver",
        "message_id": message_id,
        "stage": "deliver",
        "state": "replayed",
    }
    message = db["messages"].find_one({"_id": message_id})
    assert message is not None
    assert message["status"] == "generated"
    assert "attempts" not in message
    assert queued_tasks(broker, "deliver") == [
        ("parley.deliver", [tenant, message_id], ["parley.audit"])
    ]
    stored = repo.get(tenant, letter["_id"])
    assert (stored["state"], stored["replays"]) == ("replayed", 1)

    again = client.post(f"/v1/dead-letters/{letter['_id']}/replay", headers=headers)

    assert again.status_code == 409
    assert again.json()["type"] == "https://parley.dev/problems/already-replayed"
    assert broker.llen("deliver") == 1


def test_two_concurrent_replays_enqueue_the_turn_once(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    broker: redis.Redis,
    repo: DeadLetterRepository,
    tenant: str,
) -> None:
    broker.delete("deliver")
    letter = record(repo, tenant, dead_lettered_message(db, tenant), stage="deliver")
    headers = auth(settings, tenant)
    start = threading.Barrier(2)
    statuses: list[int] = []

    def replay() -> None:
        start.wait()
        response = client.post(f"/v1/dead-letters/{letter['_id']}/replay", headers=headers)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=replay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [202, 409]
    assert broker.llen("deliver") == 1
    assert repo.get(tenant, letter["_id"])["replays"] == 1


def test_replaying_a_turn_that_is_no_longer_dead_lettered_is_refused_and_stays_open(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    broker: redis.Redis,
    repo: DeadLetterRepository,
    tenant: str,
) -> None:
    broker.delete("deliver")
    message_id = dead_lettered_message(db, tenant)
    db["messages"].update_one({"_id": message_id}, {"$set": {"status": "completed"}})
    letter = record(repo, tenant, message_id, stage="deliver")

    response = client.post(
        f"/v1/dead-letters/{letter['_id']}/replay", headers=auth(settings, tenant)
    )

    assert response.status_code == 409
    assert response.json()["type"] == "https://parley.dev/problems/not-replayable"
    stored = repo.get(tenant, letter["_id"])
    assert (stored["state"], stored["replays"]) == ("open", 0)
    assert broker.llen("deliver") == 0


def test_a_dead_letter_being_replayed_cannot_be_replayed_again(
    client: TestClient, settings: Settings, repo: DeadLetterRepository, tenant: str
) -> None:
    letter = record(repo, tenant, new_id("msg"))
    repo.claim_replay(tenant, letter["_id"])

    response = client.post(
        f"/v1/dead-letters/{letter['_id']}/replay", headers=auth(settings, tenant)
    )

    assert response.status_code == 409
    assert response.json()["type"] == "https://parley.dev/problems/not-open"


def test_purging_deletes_the_dead_letter_once(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    repo: DeadLetterRepository,
    tenant: str,
) -> None:
    letter = record(repo, tenant, new_id("msg"))
    headers = auth(settings, tenant)
    path = f"/v1/dead-letters/{letter['_id']}"

    assert client.get(path, headers=headers).json()["id"] == letter["_id"]
    purged = client.delete(path, headers=headers)
    assert purged.status_code == 204
    assert purged.content == b""
    assert db["dead_letters"].count_documents({"tenant_id": tenant}) == 0
    assert client.delete(path, headers=headers).status_code == 404
    assert client.get(path, headers=headers).status_code == 404


def parley(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "dlq", *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_lists_replays_and_purges_dead_letters(
    db: Database[Any], broker: redis.Redis, repo: DeadLetterRepository, tenant: str
) -> None:
    broker.delete("generate")
    message_id = dead_lettered_message(db, tenant, channel="teams")
    replayable = record(repo, tenant, message_id, stage="generate", channel="teams")
    other_id = new_id("msg")
    other = record(repo, tenant, other_id, stage="audit", classification="permanent")

    listed = parley("list", "--tenant", tenant)
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line) for line in listed.stdout.splitlines()] == [
        {
            "id": replayable["_id"],
            "message_id": message_id,
            "conversation_id": replayable["conversation_id"],
            "channel": "teams",
            "stage": "generate",
            "attempts": 5,
            "last_error": {
                "type": "TransientError",
                "message": "provider answered 503",
                "classification": "exhausted",
            },
            "first_attempt_at": isoformat(replayable["first_attempt_at"]),
            "last_attempt_at": isoformat(replayable["last_attempt_at"]),
            "state": "open",
            "replays": 0,
        },
        {
            "id": f"dl_{other_id}_audit",
            "message_id": other_id,
            "conversation_id": "conv_" + other_id[4:],
            "channel": "api",
            "stage": "audit",
            "attempts": 5,
            "last_error": {
                "type": "TransientError",
                "message": "provider answered 503",
                "classification": "permanent",
            },
            "first_attempt_at": isoformat(other["first_attempt_at"]),
            "last_attempt_at": isoformat(other["last_attempt_at"]),
            "state": "open",
            "replays": 0,
        },
    ]
    filtered = parley("list", "--tenant", tenant, "--reason", "permanent", "--limit", "5")
    assert [json.loads(line)["id"] for line in filtered.stdout.splitlines()] == [other["_id"]]

    replayed = parley("replay", "--tenant", tenant, replayable["_id"])
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout) == {
        "id": replayable["_id"],
        "message_id": message_id,
        "stage": "generate",
        "state": "replayed",
    }
    assert queued_tasks(broker, "generate") == [
        ("parley.generate", [tenant, message_id], ["parley.deliver", "parley.audit"])
    ]
    again = parley("replay", "--tenant", tenant, replayable["_id"])
    assert again.returncode == 2
    assert again.stderr == f"parley: dead letter {replayable['_id']} was replayed\n"
    assert broker.llen("generate") == 1

    purged = parley("purge", "--tenant", tenant, other["_id"])
    assert json.loads(purged.stdout) == {"id": other["_id"], "purged": True}
    unknown = parley("purge", "--tenant", tenant + "-other", replayable["_id"])
    assert unknown.returncode == 2
    assert unknown.stderr == f"parley: dead letter {replayable['_id']} not found\n"
    assert [doc["_id"] for doc in repo.list(tenant, state=None)] == [replayable["_id"]]
