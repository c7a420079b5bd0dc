"""The ingress in-process against real Redis and MongoDB: acceptance, idempotency, bad input."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient
from testenv import free_port

from core.settings import Settings
from core.tokens import mint_token
from ingress.app import create_app

QUEUES = ("process", "generate", "deliver", "audit")


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def queued(broker: redis.Redis) -> int:
    """Tasks waiting in the broker across Parley's queues (kombu: one Redis list per queue)."""
    return sum(int(broker.llen(queue)) for queue in QUEUES)


def stored(db: Database[Any], tenant: str) -> tuple[int, int]:
    return (
        db["messages"].count_documents({"tenant_id": tenant}),
        db["conversations"].count_documents({"tenant_id": tenant}),
    )


def auth(settings: Settings, tenant: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {mint_token(settings.require_jwt_secret(), tenant, 'u', 600)}"
    }


def queued_task(broker: redis.Redis) -> dict[str, Any]:
    raw = broker.lindex("process", 0)
    assert raw is not None
    envelope: dict[str, Any] = json.loads(raw)
    return envelope


def test_accepted_message_is_stored_and_its_chain_enqueued_once(
    client: TestClient, settings: Settings, db: Database[Any], broker: redis.Redis, tenant: str
) -> None:
    broker.delete(*QUEUES)
    response = client.post(
        "/v1/messages",
        headers=auth(settings, tenant),
        json={"user_id": "ana", "text": "Olá, está aí? 👋", "metadata": {"page": "pricing"}},
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted"
    assert response.headers["location"] == f"/v1/messages/{body['message_id']}"
    message = db["messages"].find_one({"_id": body["message_id"]})
    assert message is not None
    assert message["tenant_id"] == tenant
    assert message["conversation_id"] == body["conversation_id"]
    assert message["text"] == "Olá, está aí? 👋"
    assert message["status"] == "accepted"
    assert queued(broker) == 1
    task = queued_task(broker)
    assert task["headers"]["task"] == "parley.process"
    args = json.loads(__import__("base64").b64decode(task["body"]))[0]
    assert args == [tenant, body["message_id"]]


def test_same_idempotency_key_returns_the_first_answer_and_enqueues_nothing(
    client: TestClient, settings: Settings, db: Database[Any], broker: redis.Redis, tenant: str
) -> None:
    broker.delete(*QUEUES)
    headers = {**auth(settings, tenant), "Idempotency-Key": "order-42"}
    payload = {"user_id": "ana", "text": "hello"}
    first = client.post("/v1/messages", headers=headers, json=payload)
    again = client.post("/v1/messages", headers=headers, json=payload)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert stored(db, tenant) == (1, 1)
    assert queued(broker) == 1


def test_reusing_an_idempotency_key_for_another_body_is_refused(
    client: TestClient, settings: Settings, db: Database[Any], broker: redis.Redis, tenant: str
) -> None:
    headers = {**auth(settings, tenant), "Idempotency-Key": "k-1"}
    assert (
        client.post(
            "/v1/messages", headers=headers, json={"user_id": "ana", "text": "a"}
        ).status_code
        == 202
    )
    before = queued(broker)
    response = client.post("/v1/messages", headers=headers, json={"user_id": "ana", "text": "b"})
    assert response.status_code == 422
    assert response.json()["type"].endswith("/idempotency-key-reused")
    assert stored(db, tenant) == (1, 1)
    assert queued(broker) == before


def _expired_token(settings: Settings, tenant: str) -> str:
    now = int(time.time())
    return jwt.encode(
        {"tenant": tenant, "sub": "u", "exp": now - 3600},
        settings.require_jwt_secret(),
        algorithm="HS256",
    )


BAD_REQUESTS: list[tuple[str, int, str]] = [
    ("malformed-json", 400, "malformed-json"),
    ("missing-text", 422, "validation-error"),
    ("unknown-field", 422, "validation-error"),
    ("tenant-in-body", 422, "validation-error"),
    ("wrong-type", 422, "validation-error"),
    ("blank-text", 422, "validation-error"),
    ("operator-key", 422, "validation-error"),
    ("not-an-object", 422, "validation-error"),
    ("too-large", 413, "payload-too-large"),
    ("too-deep", 400, "json-too-deep"),
    ("lone-surrogate", 400, "malformed-json"),
    ("nested-arrays-in-metadata", 422, "validation-error"),
    ("empty-metadata-key", 422, "validation-error"),
    ("status-in-body", 422, "validation-error"),
    ("nan-in-metadata", 400, "malformed-json"),
    ("overflowing-float", 400, "malformed-json"),
    ("huge-integer-in-metadata", 422, "validation-error"),
    ("no-token", 401, "unauthorized"),
    ("garbage-token", 401, "unauthorized"),
    ("expired-token", 401, "unauthorized"),
    ("wrong-secret", 401, "unauthorized"),
    ("no-tenant-claim", 401, "unauthorized"),
]


def _bad_request(case: str, settings: Settings, tenant: str) -> tuple[dict[str, str], bytes]:
    headers = {**auth(settings, tenant), "Content-Type": "application/json"}
    body: Any = {"user_id": "ana", "text": "hello"}
    if case == "malformed-json":
        return headers, b'{"user_id": "ana", "text": '
    if case == "missing-text":
        body = {"user_id": "ana"}
    elif case == "unknown-field":
        body = {**body, "priority": "high"}
    elif case == "tenant-in-body":
        body = {**body, "tenant_id": "someone-else"}
    elif case == "wrong-type":
        body = {"user_id": 42, "text": "hello"}
    elif case == "blank-text":
        body = {"user_id": "ana", "text": "   "}
    elif case == "operator-key":
        body = {**body, "metadata": {"$where": "1"}}
    elif case == "not-an-object":
        body = ["hello"]
    elif case == "too-deep":
        return (
            headers,
            b'{"user_id": "ana", "text": "hi", "metadata": ' + b"[" * 40 + b"]" * 40 + b"}",
        )
    elif case == "lone-surrogate":
        return headers, b'{"user_id": "ana", "text": "hi \\ud800"}'
    elif case == "nested-arrays-in-metadata":
        body = {**body, "metadata": {"a": [[1]]}}
    elif case == "empty-metadata-key":
        body = {**body, "metadata": {"": 1}}
    elif case == "nan-in-metadata":
        return headers, b'{"user_id": "ana", "text": "hi", "metadata": {"score": NaN}}'
    elif case == "overflowing-float":
        return headers, b'{"user_id": "ana", "text": "hi", "metadata": {"score": 1e400}}'
    elif case == "huge-integer-in-metadata":
        body = {**body, "metadata": {"n": 2**70}}
    elif case == "status-in-body":
        body = {**body, "status": "delivered"}
    elif case == "too-large":
        body = {"user_id": "ana", "text": "x" * (65 * 1024)}
    elif case == "no-token":
        headers.pop("Authorization")
    elif case == "garbage-token":
        headers["Authorization"] = "Bearer not-a-jwt"
    elif case == "expired-token":
        headers["Authorization"] = f"Bearer {_expired_token(settings, tenant)}"
    elif case == "wrong-secret":
        token = jwt.encode(
            {"tenant": tenant, "sub": "u", "exp": int(time.time()) + 60},
            "another-secret-that-is-long-enough-for-hs256",
            algorithm="HS256",
        )
        headers["Authorization"] = f"Bearer {token}"
    elif case == "no-tenant-claim":
        token = jwt.encode(
            {"sub": "u", "exp": int(time.time()) + 60},
            settings.require_jwt_secret(),
            algorithm="HS256",
        )
        headers["Authorization"] = f"Bearer {token}"
    return headers, json.dumps(body).encode()


@pytest.mark.parametrize(
    ("case", "status", "slug"), BAD_REQUESTS, ids=[c for c, _, _ in BAD_REQUESTS]
)
def test_bad_input_is_a_problem_and_leaves_nothing_behind(
    case: str,
    status: int,
    slug: str,
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    broker: redis.Redis,
    tenant: str,
) -> None:
    before = queued(broker)
    headers, body = _bad_request(case, settings, tenant)
    response = client.post("/v1/messages", headers=headers, content=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].endswith("/" + slug)
    assert problem["title"]
    if status == 422:
        assert problem["errors"] and all("field" in e and "message" in e for e in problem["errors"])
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert stored(db, tenant) == (0, 0)
    assert queued(broker) == before


def test_another_tenants_message_and_conversation_answer_404(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    accepted = client.post(
        "/v1/messages", headers=auth(settings, tenant), json={"user_id": "ana", "text": "hi"}
    ).json()
    intruder = auth(settings, tenant + "-other")
    for path in (
        f"/v1/messages/{accepted['message_id']}",
        f"/v1/conversations/{accepted['conversation_id']}/messages",
    ):
        response = client.get(path, headers=intruder)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        missing = client.get(
            path.replace(accepted["message_id"], "msg_0").replace(
                accepted["conversation_id"], "conv_0"
            ),
            headers=intruder,
        )
        # Exactly what a missing id answers: nothing tells the intruder the id exists.
        assert response.json()["title"] == missing.json()["title"]
        assert (
            response.json()["detail"]
            .replace(accepted["message_id"], "msg_0")
            .replace(accepted["conversation_id"], "conv_0")
            == missing.json()["detail"]
        )
        assert "ana" not in response.text
    mine = client.get(f"/v1/messages/{accepted['message_id']}", headers=auth(settings, tenant))
    assert mine.status_code == 200
    assert mine.json()["journey"].keys() == {"accepted"}


def test_naming_someone_elses_conversation_is_404_and_stores_nothing(
    client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    first = client.post(
        "/v1/messages", headers=auth(settings, tenant), json={"user_id": "ana", "text": "hi"}
    ).json()
    response = client.post(
        "/v1/messages",
        headers=auth(settings, tenant),
        json={"user_id": "mallory", "text": "hi", "conversation_id": first["conversation_id"]},
    )
    assert response.status_code == 404
    assert stored(db, tenant) == (1, 1)


def test_invalid_cursor_and_limit_are_problems(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    first = client.post(
        "/v1/messages", headers=auth(settings, tenant), json={"user_id": "ana", "text": "hi"}
    ).json()
    path = f"/v1/conversations/{first['conversation_id']}/messages"
    assert (
        client.get(path, headers=auth(settings, tenant), params={"cursor": "!!"}).status_code == 400
    )
    for odd in ("-1", "²", "9" * 5000, "0"):
        response = client.get(path, headers=auth(settings, tenant), params={"limit": odd})
        assert response.status_code == 400, odd


def test_health_ready_is_200_and_degraded_while_only_the_engine_is_down(
    client: TestClient,
) -> None:
    assert client.get("/health/live").json() == {"status": "live"}
    ready = client.get("/health/ready")  # no engine runs in this module
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded" and body["degraded"] == ["engine"]
    assert body["checks"]["engine"].startswith("down")
    assert {name for name, state in body["checks"].items() if state == "up"} == {
        "redis",
        "broker",
        "mongodb",
        "kafka",
    }


def test_health_ready_stays_200_without_kafka_and_names_a_failed_store_in_a_503(
    settings: Settings,
) -> None:
    nothing = f"127.0.0.1:{free_port()}"  # a port nobody listens on
    without_kafka = settings.model_copy(update={"kafka_bootstrap": nothing})
    with TestClient(create_app(without_kafka)) as degraded:
        body = degraded.get("/health/ready").json()
        assert body["status"] == "degraded" and body["degraded"] == ["engine", "kafka"]
    without_redis = settings.model_copy(update={"redis_url": f"redis://{nothing}/0"})
    with TestClient(create_app(without_redis)) as failing:
        ready = failing.get("/health/ready")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        assert ready.json()["detail"] == "unavailable: redis"
        assert ready.json()["degraded"] == ["engine"]


def test_a_flood_of_health_ready_pings_redis_once_per_interval(
    settings: Settings, redis_client: redis.Redis
) -> None:
    cached = settings.model_copy(update={"readiness_cache_seconds": 60.0})
    database = int(settings.redis_url.rsplit("/", 1)[1])
    marker = f"parley-test-flood-done-{free_port()}"
    with TestClient(create_app(cached)) as flooded, redis_client.monitor() as monitor:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: flooded.get("/health/ready"), range(100)))
        redis_client.echo(marker)  # the monitor is read up to here: before it, the flood
        pings = 0
        for command in monitor.listen():
            if command["command"] == f"ECHO {marker}":
                break
            pings += command["db"] == database and command["command"] == "PING"
    assert {answer.status_code for answer in answers} == {200}
    assert pings == 1


def test_unknown_route_is_a_problem(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
