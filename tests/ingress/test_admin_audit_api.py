"""The admin audit trail, in-process against real MongoDB and Redis: every mutating admin route
records one entry naming the credential (never its secret) and the target, refusals are
recorded as such, failed authentications are counted a row a minute, and ``GET /v1/audit``
shows a tenant its own entries only and the operator everyone's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.testclient import TestClient

from core.ids import new_id
from core.settings import Settings
from core.timeutil import utcnow
from ingress.app import create_app
from storage.dead_letters import DeadLetterRepository
from storage.webhook_deliveries import WebhookDeliveryRepository
from tests.credentials import (
    admin_headers,
    bearer,
    client_address,
    create_tenant,
    issue_key,
    key_secret,
    tenant_headers,
)
from tests.fakes.accounts import ProviderAccounts


@pytest.fixture(scope="module")
def client(
    db: Database[Any], broker: redis.Redis, settings: Settings, providers: ProviderAccounts
) -> Iterator[TestClient]:
    allowed = providers.settings(
        settings.model_copy(update={"webhooks_allow_private": True, "tenant_cache_seconds": 0})
    )
    app = create_app(allowed)
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as test_client:
        yield test_client


def entries(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/v1/audit", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def test_every_admin_action_records_one_entry_without_secrets(
    client: TestClient, settings: Settings, db: Database[Any], providers: ProviderAccounts
) -> None:
    operator = admin_headers(settings)
    tenant = create_tenant(client, settings)
    as_tenant = tenant_headers(settings, tenant, subject="alice")
    secrets_shown: list[str] = []

    assert client.patch(
        f"/v1/admin/tenants/{tenant}", headers=operator, json={"name": "Renamed"}
    ).is_success
    key = issue_key(client, settings, tenant, ["messages:read"])
    secrets_shown.append(key_secret(key["key"]))
    rotated = client.post(f"/v1/admin/tenants/{tenant}/keys/{key['id']}/rotate", headers=operator)
    secrets_shown.append(key_secret(rotated.json()["key"]))
    assert client.delete(
        f"/v1/admin/tenants/{tenant}/keys/{rotated.json()['id']}", headers=operator
    ).is_success
    assert client.post(
        f"/v1/admin/tenants/{tenant}/revoked-tokens",
        headers=operator,
        json={"jti": "jti-1", "expires_at": 2_000_000_000},
    ).is_success
    team = "T" + tenant.upper().replace("-", "")
    channel = client.post(
        "/v1/admin/channels",
        headers=as_tenant,
        json=providers.own(
            {
                "channel": "slack",
                "account_id": team,
                "secrets": {"bot_token": "xoxb-audit-secret", "signing_secret": "sign-audit"},
            }
        ),
    )
    assert channel.status_code == 201, channel.text
    secrets_shown += ["xoxb-audit-secret", "sign-audit"]
    widget = client.post(
        "/v1/admin/widgets",
        headers=as_tenant,
        json={"name": "w", "allowed_origins": ["https://a.example"]},
    ).json()
    identity = "identity-secret-0123456789"
    assert client.patch(
        f"/v1/admin/widgets/{widget['id']}",
        headers=as_tenant,
        json={"greeting": "hi", "identity_secret": identity},
    ).is_success
    secrets_shown.append(identity)
    base = "/v1/webhooks/subscriptions"
    hook = client.post(
        base, headers=as_tenant, json={"url": "http://127.0.0.1:9/h", "events": ["chat.*.*"]}
    ).json()
    secrets_shown.append(hook["secret"])
    new_secret = client.post(f"{base}/{hook['id']}/rotate", headers=as_tenant).json()["secret"]
    secrets_shown.append(new_secret)
    assert client.delete(f"{base}/{hook['id']}", headers=as_tenant).status_code == 204
    accepted = client.post(
        "/v1/messages", headers=as_tenant, json={"user_id": "bob", "text": "hello"}
    ).json()
    conversation = accepted["conversation_id"]
    assert client.post(f"/v1/conversations/{conversation}/close", headers=as_tenant).is_success
    dead = DeadLetterRepository(db).record(
        tenant_id=tenant,
        message_id=accepted["message_id"],
        conversation_id=conversation,
        channel="api",
        stage="deliver",
        attempts=3,
        error_type="SendFailed",
        error_message="failed",
        classification="exhausted",
        at=utcnow(),
    )
    assert client.delete(f"/v1/dead-letters/{dead['_id']}", headers=as_tenant).status_code == 204
    carol = {"user_id": "carol"}
    assert client.post("/v1/privacy/export", headers=as_tenant, json=carol).is_success
    erased = client.post("/v1/privacy/erase", headers=as_tenant, json=carol)
    assert erased.is_success, erased.text

    seen = list(reversed(entries(client, operator, tenant_id=tenant, limit=100)))
    by_action = [(e["action"], e["target"]["type"], e["target"]["id"]) for e in seen]
    assert by_action == [
        ("tenant.created", "tenant", tenant),
        ("tenant.updated", "tenant", tenant),
        ("api_key.created", "api_key", key["id"]),
        ("api_key.rotated", "api_key", key["id"]),
        ("api_key.revoked", "api_key", rotated.json()["id"]),
        ("token.revoked", "token", "jti-1"),
        ("channel.created", "channel_config", channel.json()["id"]),
        ("widget.created", "widget", widget["id"]),
        ("widget.updated", "widget", widget["id"]),
        ("webhook_subscription.created", "webhook_subscription", hook["id"]),
        ("webhook_subscription.secret_rotated", "webhook_subscription", hook["id"]),
        ("webhook_subscription.deleted", "webhook_subscription", hook["id"]),
        ("conversation.closed", "conversation", conversation),
        ("dead_letter.purged", "dead_letter", dead["_id"]),
        # The export named carol; her erasure took that entry with her data.
        ("privacy.erased", "erasure", erased.json()["id"]),
    ]
    assert {e["outcome"] for e in seen} == {"succeeded"}
    actors = {e["action"]: e["actor"] for e in seen}
    assert actors["api_key.created"] == {"kind": "operator", "id": "operator"}
    assert actors["widget.created"] == {"kind": "token", "id": "alice"}
    details = {e["action"]: e["detail"] for e in seen}
    assert details["api_key.created"] == {"name": "k", "scopes": ["messages:read"]}
    assert details["api_key.rotated"] == {"replaced_by": rotated.json()["id"]}
    assert details["widget.updated"] == {"fields": ["greeting", "identity_secret"]}
    assert details["tenant.updated"] == {"state": "active", "fields": ["name"]}
    stored = str(list(db["admin_audit"].find({"tenant_id": tenant})))
    for secret in secrets_shown:
        assert secret not in stored
    assert "carol" not in stored


def test_refused_and_denied_actions_are_recorded_as_such(
    client: TestClient, settings: Settings
) -> None:
    tenant = create_tenant(client, settings)
    reader = tenant_headers(settings, tenant, scopes=["audit:read"], subject="reader")
    full = tenant_headers(settings, tenant, subject="writer")
    missing = client.post("/v1/conversations/conv_nothere/close", headers=full)
    assert missing.status_code == 404
    denied = client.post("/v1/admin/widgets", headers=reader, json={})
    assert denied.status_code == 403
    seen = entries(client, reader)
    assert [(e["action"], e["outcome"]) for e in seen] == [
        ("widget.created", "denied"),
        ("conversation.closed", "failed"),
        ("tenant.created", "succeeded"),
    ]
    assert seen[0]["detail"] == {"status": 403, "problem": "insufficient-scope"}
    assert seen[0]["actor"] == {"kind": "token", "id": "reader"}
    assert seen[1]["detail"] == {"status": 404, "problem": "not-found"}
    assert seen[1]["target"] == {"type": "conversation", "id": "conv_nothere"}


def test_failed_logins_count_into_one_entry_a_minute_without_the_credential(
    db: Database[Any], broker: redis.Redis, settings: Settings
) -> None:
    with TestClient(create_app(settings), client=client_address()) as own:
        tenant = create_tenant(own, settings)
        key = issue_key(own, settings, tenant, ["messages:read"])
        wrong = key["key"][: -len(key_secret(key["key"]))] + "x" * 43
        for _ in range(4):
            assert own.get("/v1/conversations", headers=bearer(wrong)).status_code == 401
        forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
        assert own.get("/v1/conversations", headers=bearer(forged)).status_code == 401
        assert own.get("/v1/conversations").status_code == 401
        assert own.get("/v1/widget/messages", headers=bearer("not-a-token")).status_code == 401

        reader = tenant_headers(settings, tenant, scopes=["audit:read"])
        theirs = entries(own, reader, action="auth.failed")
        assert len(theirs) == 1
        (failed,) = theirs
        assert failed["action"] == "auth.failed" and failed["outcome"] == "failed"
        assert failed["count"] == 4
        assert failed["actor"] == {"kind": "api_key", "id": None}
        assert failed["detail"] == {"credential": "api_key", "reasons": {"unknown_key": 4}}
        # Failures no tenant can be named for are the platform's: the operator's to read.
        platform = db["admin_audit"].find({"client_ip": failed["client_ip"], "tenant_id": "*"})
        counted = {e["detail"]["credential"]: e["count"] for e in platform}
        assert counted == {"token": 1, "none": 1, "visitor_token": 1}
        stored = str(list(db["admin_audit"].find({"client_ip": failed["client_ip"]})))
        assert key_secret(key["key"]) not in stored and "x" * 43 not in stored
        assert forged not in stored


def test_a_tenant_sees_its_own_entries_and_the_operator_filters_anyones(
    client: TestClient, settings: Settings
) -> None:
    operator = admin_headers(settings)
    mine, theirs = create_tenant(client, settings), create_tenant(client, settings)
    for tenant in (mine, theirs, mine):
        issue_key(client, settings, tenant, ["messages:read"])
    own = tenant_headers(settings, mine, scopes=["audit:read"])
    seen = entries(client, own)
    assert {e["tenant_id"] for e in seen} == {mine}
    assert [e["action"] for e in seen] == ["api_key.created", "api_key.created", "tenant.created"]
    assert client.get("/v1/audit", headers=own, params={"tenant_id": theirs}).status_code == 403
    assert entries(client, own, tenant_id=mine) == seen
    no_scope = tenant_headers(settings, mine, scopes=["messages:read"])
    assert client.get("/v1/audit", headers=no_scope).status_code == 403

    everyone = entries(client, operator, limit=100)
    assert {mine, theirs} <= {e["tenant_id"] for e in everyone}
    assert {e["tenant_id"] for e in entries(client, operator, tenant_id=theirs)} == {theirs}
    created = entries(client, operator, tenant_id=mine, action="tenant.created")
    assert [e["target"]["id"] for e in created] == [mine]

    first = client.get("/v1/audit", headers=own, params={"limit": 2}).json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = client.get("/v1/audit", headers=own, params={"cursor": first["next_cursor"]}).json()
    assert [e["id"] for e in first["data"] + rest["data"]] == [e["id"] for e in seen]
    assert rest["next_cursor"] is None

    newest = seen[0]["at"]
    assert [e["id"] for e in entries(client, own, **{"from": newest})] == [seen[0]["id"]]
    assert seen[0]["id"] not in [e["id"] for e in entries(client, own, to=newest)]
    bad = client.get("/v1/audit", headers=own, params={"from": "yesterday"})
    assert bad.status_code == 400 and bad.json()["type"].endswith("invalid-filter")
    forged = client.get("/v1/audit", headers=own, params={"cursor": new_id("x")})
    assert forged.status_code == 400


def test_replays_are_recorded_with_their_target(
    client: TestClient, settings: Settings, db: Database[Any]
) -> None:
    tenant = create_tenant(client, settings)
    headers = tenant_headers(settings, tenant)
    base = "/v1/webhooks/subscriptions"
    hook = client.post(
        base, headers=headers, json={"url": "http://127.0.0.1:9/h", "events": ["chat.*.*"]}
    ).json()
    deliveries = WebhookDeliveryRepository(db, redis.Redis.from_url(settings.redis_url))
    delivery = deliveries.create(
        tenant_id=tenant,
        subscription_id=hook["id"],
        event_id=new_id("evt"),
        event_type="chat.message.sent",
        conversation_id=None,
        payload="{}",
    )
    assert delivery is not None
    deliveries.record_attempt(
        delivery, at=utcnow(), status="dead", response_status=500, error="refused"
    )
    replayed = client.post(
        f"{base}/{hook['id']}/deliveries/{delivery['_id']}/replay", headers=headers
    )
    assert replayed.status_code == 202, replayed.text
    missing = client.post("/v1/dead-letters/dl_nothere/replay", headers=headers)
    assert missing.status_code == 404

    seen = entries(client, tenant_headers(settings, tenant, scopes=["audit:read"]))
    assert [(e["action"], e["outcome"], e["target"]["id"]) for e in seen[:2]] == [
        ("dead_letter.replayed", "failed", "dl_nothere"),
        ("webhook_delivery.replayed", "succeeded", delivery["_id"]),
    ]
    assert seen[1]["detail"] == {"event_type": "chat.message.sent"}
