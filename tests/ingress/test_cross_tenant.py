"""Tenant isolation, generated from the route table: every route, called with tenant A's
credentials (a JWT with every tenant scope, and an API key) on tenant B's ids, answers 404 or
403 and no body carries B's data; B's data is intact afterwards.

``MATRIX`` names every route of the app. A route added without an entry here fails
``test_every_route_is_in_the_matrix``, so no route escapes the isolation check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from pymongo.database import Database
from starlette.routing import Route
from starlette.testclient import TestClient

from core.crypto import SecretBox
from core.scopes import TENANT_SCOPES
from core.settings import Settings
from core.timeutil import utcnow
from ingress.app import create_app
from storage.dead_letters import DeadLetterRepository
from storage.notification_rules import NotificationRuleRepository
from storage.notifications import NotificationLog
from storage.webhook_deliveries import WebhookDeliveryRepository
from storage.webhook_subscriptions import WebhookSubscriptionRepository
from tests.credentials import (
    bearer,
    client_address,
    create_tenant,
    issue_key,
    tenant_headers,
)
from tests.fakes.accounts import ProviderAccounts


@dataclass(frozen=True)
class World:
    a: str
    b: str
    b_message: str
    b_conversation: str
    b_dead_letter: str
    b_user: str
    b_channel: str
    b_key: str
    b_secrets: tuple[str, ...]  # strings that only B's data contains
    a_slack_secret: str
    a_slack_token: str  # proves A's workspace, not B's
    b_team: str
    b_widget: str
    b_upload: str
    b_visitor: dict[str, str]  # headers of B's visitor on B's widget
    b_subscription: str
    b_delivery: str
    b_rule: str


@dataclass(frozen=True)
class Probe:
    """How to call one route as tenant A on B's ids, and what it may answer."""

    request: Callable[[World], tuple[str, dict[str, Any]]]  # → (path, httpx request kwargs)
    allowed: frozenset[int]
    credentialed: bool = True


def _slack_signed(world: World, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    mac = hmac.new(
        world.a_slack_secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256
    ).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={mac}",
        "Content-Type": "application/json",
    }


def _webhook_post(world: World) -> tuple[str, dict[str, Any]]:
    body = json.dumps(
        {"type": "event_callback", "team_id": world.b_team, "event": {"type": "message"}}
    ).encode()
    return f"/webhooks/slack/{world.b_channel}", {
        "content": body,
        "headers": _slack_signed(world, body),
    }


A_ORIGIN, B_ORIGIN = "https://a.example", "https://b.example"
UNAUTHORIZED = frozenset({401})
NOT_FOUND = frozenset({404})
FORBIDDEN = frozenset({403})
LISTED = frozenset({200})  # a list of A's own things: it must not show B's
MATRIX: dict[tuple[str, str], Probe] = {
    ("post", "/v1/messages"): Probe(
        lambda w: (
            "/v1/messages",
            {"json": {"user_id": "mallory", "text": "hi", "conversation_id": w.b_conversation}},
        ),
        NOT_FOUND,
    ),
    ("get", "/v1/messages/{message_id}"): Probe(
        lambda w: (f"/v1/messages/{w.b_message}", {}), NOT_FOUND
    ),
    ("get", "/v1/conversations"): Probe(lambda w: ("/v1/conversations", {}), LISTED),
    ("get", "/v1/conversations/{conversation_id}"): Probe(
        lambda w: (f"/v1/conversations/{w.b_conversation}", {}), NOT_FOUND
    ),
    ("post", "/v1/conversations/{conversation_id}/close"): Probe(
        lambda w: (f"/v1/conversations/{w.b_conversation}/close", {}), NOT_FOUND
    ),
    ("get", "/v1/conversations/{conversation_id}/messages"): Probe(
        lambda w: (f"/v1/conversations/{w.b_conversation}/messages", {}), NOT_FOUND
    ),
    ("post", "/v1/admin/channels"): Probe(
        lambda w: (
            "/v1/admin/channels",
            {
                "json": {
                    "channel": "slack",
                    # B's workspace with A's own bot token: Slack says it is A's, not B's.
                    "account_id": w.b_team,
                    "secrets": {"bot_token": w.a_slack_token, "signing_secret": "a"},
                }
            },
        ),
        frozenset({422}),
    ),
    ("get", "/v1/admin/channels"): Probe(lambda w: ("/v1/admin/channels", {}), LISTED),
    ("get", "/v1/templates"): Probe(lambda w: ("/v1/templates", {}), LISTED),
    ("get", "/v1/admin/channels/{config_id}"): Probe(
        lambda w: (f"/v1/admin/channels/{w.b_channel}", {}), NOT_FOUND
    ),
    ("post", "/v1/outbound"): Probe(
        lambda w: (
            "/v1/outbound",
            {"json": {"channel_config_id": w.b_channel, "to": "1", "text": "hi"}},
        ),
        NOT_FOUND,
    ),
    ("patch", "/v1/admin/channels/{config_id}"): Probe(
        lambda w: (f"/v1/admin/channels/{w.b_channel}", {"json": {"messenger_profile": None}}),
        NOT_FOUND,
    ),
    ("post", "/v1/admin/widgets"): Probe(
        lambda w: ("/v1/admin/widgets", {"json": {"name": w.b_widget, "allowed_origins": []}}),
        frozenset({422}),
    ),
    ("get", "/v1/admin/widgets"): Probe(lambda w: ("/v1/admin/widgets", {}), LISTED),
    ("get", "/v1/admin/widgets/{widget_id}"): Probe(
        lambda w: (f"/v1/admin/widgets/{w.b_widget}", {}), NOT_FOUND
    ),
    ("patch", "/v1/admin/widgets/{widget_id}"): Probe(
        lambda w: (f"/v1/admin/widgets/{w.b_widget}", {"json": {"enabled": False}}), NOT_FOUND
    ),
    # The widget's browser routes. The session route takes no credential: A's page asking for a
    # session on B's widget is refused by its Origin. The visitor routes take a visitor token
    # only: A's API credentials are refused (visitor tokens are probed in the tests below).
    ("post", "/v1/widget/{widget_id}/sessions"): Probe(
        lambda w: (
            f"/v1/widget/{w.b_widget}/sessions",
            {"json": {}, "headers": {"Origin": A_ORIGIN}},
        ),
        FORBIDDEN,
        credentialed=False,
    ),
    ("get", "/v1/widget/messages"): Probe(lambda w: ("/v1/widget/messages", {}), UNAUTHORIZED),
    ("post", "/v1/widget/uploads"): Probe(
        lambda w: (
            "/v1/widget/uploads",
            {"content": b"\x89PNG", "headers": {"Content-Type": "image/png"}},
        ),
        UNAUTHORIZED,
    ),
    ("get", "/v1/widget/uploads/{upload_id}"): Probe(
        lambda w: (f"/v1/widget/uploads/{w.b_upload}", {}), UNAUTHORIZED
    ),
    ("post", "/v1/admin/tenants"): Probe(
        lambda w: ("/v1/admin/tenants", {"json": {"id": w.b, "name": "mine now"}}), FORBIDDEN
    ),
    ("get", "/v1/admin/tenants"): Probe(lambda w: ("/v1/admin/tenants", {}), FORBIDDEN),
    ("get", "/v1/admin/tenants/{tenant_id}"): Probe(
        lambda w: (f"/v1/admin/tenants/{w.b}", {}), FORBIDDEN
    ),
    ("patch", "/v1/admin/tenants/{tenant_id}"): Probe(
        lambda w: (f"/v1/admin/tenants/{w.b}", {"json": {"state": "disabled"}}), FORBIDDEN
    ),
    ("post", "/v1/admin/tenants/{tenant_id}/channels"): Probe(
        lambda w: (
            f"/v1/admin/tenants/{w.b}/channels",
            {
                "json": {
                    "channel": "slack",
                    "account_id": "T-new-" + w.b,
                    "secrets": {"bot_token": "xoxb-a", "signing_secret": "a"},
                }
            },
        ),
        FORBIDDEN,
    ),
    ("post", "/v1/admin/tenants/{tenant_id}/keys"): Probe(
        lambda w: (
            f"/v1/admin/tenants/{w.b}/keys",
            {"json": {"name": "stolen", "scopes": ["messages:read"]}},
        ),
        FORBIDDEN,
    ),
    ("get", "/v1/admin/tenants/{tenant_id}/keys"): Probe(
        lambda w: (f"/v1/admin/tenants/{w.b}/keys", {}), FORBIDDEN
    ),
    ("post", "/v1/admin/tenants/{tenant_id}/keys/{key_id}/rotate"): Probe(
        lambda w: (f"/v1/admin/tenants/{w.b}/keys/{w.b_key}/rotate", {}), FORBIDDEN
    ),
    ("delete", "/v1/admin/tenants/{tenant_id}/keys/{key_id}"): Probe(
        lambda w: (f"/v1/admin/tenants/{w.b}/keys/{w.b_key}", {}), FORBIDDEN
    ),
    ("post", "/v1/admin/tenants/{tenant_id}/revoked-tokens"): Probe(
        lambda w: (
            f"/v1/admin/tenants/{w.b}/revoked-tokens",
            {"json": {"jti": "jti_b", "expires_at": 2_000_000_000}},
        ),
        FORBIDDEN,
    ),
    ("get", "/v1/dead-letters"): Probe(
        lambda w: ("/v1/dead-letters", {"params": {"state": "all"}}), LISTED
    ),
    ("get", "/v1/dead-letters/{dead_letter_id}"): Probe(
        lambda w: (f"/v1/dead-letters/{w.b_dead_letter}", {}), NOT_FOUND
    ),
    ("delete", "/v1/dead-letters/{dead_letter_id}"): Probe(
        lambda w: (f"/v1/dead-letters/{w.b_dead_letter}", {}), NOT_FOUND
    ),
    ("post", "/v1/dead-letters/{dead_letter_id}/replay"): Probe(
        lambda w: (f"/v1/dead-letters/{w.b_dead_letter}/replay", {}), NOT_FOUND
    ),
    # A's own users only: B's user id names nobody in A's tenant (B's data stays, see below).
    ("post", "/v1/privacy/erase"): Probe(
        lambda w: ("/v1/privacy/erase", {"json": {"user_id": w.b_user}}), LISTED
    ),
    ("post", "/v1/privacy/export"): Probe(
        lambda w: ("/v1/privacy/export", {"json": {"user_id": w.b_user}}), LISTED
    ),
    ("get", "/v1/privacy/erasures"): Probe(
        lambda w: ("/v1/privacy/erasures", {"params": {"user_id": w.b_user}}), LISTED
    ),
    ("get", "/v1/privacy/erasures/{erasure_id}"): Probe(
        lambda w: ("/v1/privacy/erasures/era_0000", {}), NOT_FOUND
    ),
    # A tenant reads its own audit trail and report only: naming B is refused.
    ("get", "/v1/audit"): Probe(lambda w: ("/v1/audit", {"params": {"tenant_id": w.b}}), FORBIDDEN),
    ("get", "/v1/compliance/report"): Probe(
        lambda w: ("/v1/compliance/report", {"params": {"tenant_id": w.b}}), FORBIDDEN
    ),
    ("post", "/v1/webhooks/subscriptions"): Probe(
        # The tenant is the credential's: nothing in the body can name B. This loopback
        # endpoint is refused before anything is stored.
        lambda w: (
            "/v1/webhooks/subscriptions",
            {"json": {"url": "https://127.0.0.1/b", "events": ["chat.message.*"]}},
        ),
        frozenset({422}),
    ),
    ("get", "/v1/webhooks/subscriptions"): Probe(
        lambda w: ("/v1/webhooks/subscriptions", {}), LISTED
    ),
    ("get", "/v1/webhooks/subscriptions/{subscription_id}"): Probe(
        lambda w: (f"/v1/webhooks/subscriptions/{w.b_subscription}", {}), NOT_FOUND
    ),
    ("delete", "/v1/webhooks/subscriptions/{subscription_id}"): Probe(
        lambda w: (f"/v1/webhooks/subscriptions/{w.b_subscription}", {}), NOT_FOUND
    ),
    ("post", "/v1/webhooks/subscriptions/{subscription_id}/rotate"): Probe(
        lambda w: (f"/v1/webhooks/subscriptions/{w.b_subscription}/rotate", {}), NOT_FOUND
    ),
    ("get", "/v1/webhooks/subscriptions/{subscription_id}/deliveries"): Probe(
        lambda w: (f"/v1/webhooks/subscriptions/{w.b_subscription}/deliveries", {}), NOT_FOUND
    ),
    ("post", "/v1/webhooks/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay"): Probe(
        lambda w: (
            f"/v1/webhooks/subscriptions/{w.b_subscription}/deliveries/{w.b_delivery}/replay",
            {},
        ),
        NOT_FOUND,
    ),
    ("post", "/v1/notifications/rules"): Probe(
        # The tenant is the credential's; a loopback Slack URL is refused before anything is
        # stored.
        lambda w: (
            "/v1/notifications/rules",
            {
                "json": {
                    "condition": {"kind": "endpoint_disabled"},
                    "notify": [{"slack_webhook_url": "https://127.0.0.1/b"}],
                }
            },
        ),
        frozenset({422}),
    ),
    ("get", "/v1/notifications/rules"): Probe(lambda w: ("/v1/notifications/rules", {}), LISTED),
    ("delete", "/v1/notifications/rules/{rule_id}"): Probe(
        lambda w: (f"/v1/notifications/rules/{w.b_rule}", {}), NOT_FOUND
    ),
    ("get", "/v1/notifications"): Probe(lambda w: ("/v1/notifications", {}), LISTED),
    # A tenant's own figures; B's facts never count in them (nothing of B's text is in any).
    ("get", "/v1/analytics/summary"): Probe(lambda w: ("/v1/analytics/summary", {}), LISTED),
    ("get", "/v1/analytics/timeseries"): Probe(
        lambda w: ("/v1/analytics/timeseries", {"params": {"interval": "day"}}), LISTED
    ),
    # Webhooks take no credential: the tenant is the config's. Signed with A's Slack secret,
    # a request to B's config is refused.
    ("get", "/webhooks/{channel}/{config_id}"): Probe(
        lambda w: (
            f"/webhooks/slack/{w.b_channel}",
            {"params": {"hub.mode": "subscribe", "hub.challenge": "1"}},
        ),
        frozenset({401}),
        credentialed=False,
    ),
    ("post", "/webhooks/{channel}/{config_id}"): Probe(
        _webhook_post, frozenset({401}), credentialed=False
    ),
    # Tenant-free routes: they answer the same to anyone, and never with B's data.
    ("get", "/health/live"): Probe(lambda w: ("/health/live", {}), LISTED, credentialed=False),
    ("get", "/health/ready"): Probe(
        lambda w: ("/health/ready", {}), frozenset({200, 503}), credentialed=False
    ),
    ("get", "/metrics"): Probe(lambda w: ("/metrics", {}), LISTED, credentialed=False),
    ("get", "/openapi.json"): Probe(lambda w: ("/openapi.json", {}), LISTED, credentialed=False),
    ("get", "/widget.js"): Probe(lambda w: ("/widget.js", {}), LISTED, credentialed=False),
    ("get", "/widget/{hash}.js"): Probe(
        lambda w: ("/widget/0123456789abcdef0123.js", {}), NOT_FOUND, credentialed=False
    ),
    ("get", "/dashboard"): Probe(lambda w: ("/dashboard", {}), LISTED, credentialed=False),
    ("get", "/dashboard/dashboard.js"): Probe(
        lambda w: ("/dashboard/dashboard.js", {}), LISTED, credentialed=False
    ),
    ("get", "/dashboard/dashboard.css"): Probe(
        lambda w: ("/dashboard/dashboard.css", {}), LISTED, credentialed=False
    ),
    ("get", "/docs"): Probe(lambda w: ("/docs", {}), LISTED, credentialed=False),
    ("get", "/docs/api-docs.js"): Probe(
        lambda w: ("/docs/api-docs.js", {}), LISTED, credentialed=False
    ),
    ("get", "/docs/swagger-ui-bundle.js"): Probe(
        lambda w: ("/docs/swagger-ui-bundle.js", {}), LISTED, credentialed=False
    ),
    ("get", "/docs/swagger-ui.css"): Probe(
        lambda w: ("/docs/swagger-ui.css", {}), LISTED, credentialed=False
    ),
    ("get", "/docs/favicon-32x32.png"): Probe(
        lambda w: ("/docs/favicon-32x32.png", {}), LISTED, credentialed=False
    ),
    # Served only where PARLEY_DEMO_WIDGET_ID is set (``parley run``), which this client is not.
    ("get", "/demo"): Probe(lambda w: ("/demo", {}), NOT_FOUND, credentialed=False),
}


@pytest.fixture(scope="module")
def client(
    db: Database[Any], broker: redis.Redis, providers: ProviderAccounts
) -> Iterator[TestClient]:
    # The visitor-token probes fail authentication once per route from this one address: more
    # routes than the default allowance of failures.
    app = create_app(
        providers.settings(Settings(tenant_cache_seconds=0, auth_failure_burst=len(MATRIX) * 2))
    )
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as test_client:
        yield test_client


def routed(client: TestClient) -> set[tuple[str, str]]:
    return {
        (method.lower(), route.path_format)
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }


@pytest.fixture(scope="module")
def world(
    client: TestClient, settings: Settings, db: Database[Any], providers: ProviderAccounts
) -> World:
    a, b = create_tenant(client, settings), create_tenant(client, settings)
    a_team, b_team = ("T" + t.upper().replace("-", "") for t in (a, b))
    marker = "b-secret-" + secrets.token_hex(6)
    as_b = tenant_headers(settings, b)
    accepted = client.post(
        "/v1/messages",
        headers=as_b,
        json={"user_id": f"user-{marker}", "text": f"text {marker}", "metadata": {"m": marker}},
    )
    assert accepted.status_code == 202
    body = accepted.json()
    b_slack_secret = "sign-" + marker
    b_channel = client.post(
        "/v1/admin/channels",
        headers=as_b,
        json=providers.own(
            {
                "channel": "slack",
                "account_id": b_team,
                "secrets": {"bot_token": "xoxb-" + marker, "signing_secret": b_slack_secret},
            }
        ),
    )
    assert b_channel.status_code == 201
    a_slack_secret = "sign-a-" + secrets.token_hex(6)
    a_slack_token = "xoxb-a-" + secrets.token_hex(6)
    a_channel = client.post(
        "/v1/admin/channels",
        headers=tenant_headers(settings, a),
        json=providers.own(
            {
                "channel": "slack",
                "account_id": a_team,
                "secrets": {"bot_token": a_slack_token, "signing_secret": a_slack_secret},
            }
        ),
    )
    assert a_channel.status_code == 201
    dead = DeadLetterRepository(db).record(
        tenant_id=b,
        message_id=body["message_id"],
        conversation_id=body["conversation_id"],
        channel="api",
        stage="deliver",
        attempts=3,
        error_type="SendFailed",
        error_message=f"failed {marker}",
        classification="exhausted",
        at=utcnow(),
    )
    key = issue_key(client, settings, b, ["messages:read"])
    b_widget = client.post(
        "/v1/admin/widgets",
        headers=as_b,
        json={
            "name": f"widget {marker}",
            "allowed_origins": [B_ORIGIN],
            "greeting": f"hello {marker}",
        },
    )
    assert b_widget.status_code == 201, b_widget.text
    b_visitor = _visitor_of(client, b_widget.json()["id"], B_ORIGIN)
    b_upload = client.post(
        "/v1/widget/uploads",
        headers={**b_visitor, "Content-Type": "image/png"},
        params={"filename": f"{marker}.png"},
        content=f"file {marker}".encode(),
    )
    assert b_upload.status_code == 201, b_upload.text
    # Stored directly: the API would refuse B's made-up endpoint, which resolves nowhere.
    box = SecretBox(settings.require_master_key())
    b_subscription, _ = WebhookSubscriptionRepository(db, box).create(
        b, f"https://{marker}.example/hook", ["chat.message.*"], f"hook {marker}"
    )
    b_delivery = WebhookDeliveryRepository(db, redis.Redis.from_url(settings.redis_url)).create(
        tenant_id=b,
        subscription_id=b_subscription["_id"],
        event_id=f"evt_{marker}",
        event_type="chat.message.sent",
        conversation_id=body["conversation_id"],
        payload=json.dumps({"marker": marker}),
    )
    assert b_delivery is not None
    b_rule = NotificationRuleRepository(db).create(
        b, {"kind": "endpoint_disabled"}, [{"email": f"{marker}@b.example"}], 60
    )
    NotificationLog(db).open(
        tenant_id=b,
        rule_id=b_rule["_id"],
        condition="endpoint_disabled",
        subject="whs_b",
        incident=f"evt_{marker}",
        summary=f"alert {marker}",
        targets=[f"email:{marker}@b.example"],
    )
    return World(
        a=a,
        b=b,
        b_message=body["message_id"],
        b_conversation=body["conversation_id"],
        b_dead_letter=dead["_id"],
        b_user=f"user-{marker}",
        b_channel=b_channel.json()["id"],
        b_key=key["id"],
        b_secrets=(
            marker,
            body["message_id"],
            body["conversation_id"],
            dead["_id"],
            b_channel.json()["id"],
            key["id"],
            b_team,
            b_widget.json()["id"],
            b_upload.json()["upload_id"],
            b_subscription["_id"],
            b_delivery["_id"],
            b_rule["_id"],
        ),
        a_slack_secret=a_slack_secret,
        a_slack_token=a_slack_token,
        b_team=b_team,
        b_widget=b_widget.json()["id"],
        b_upload=b_upload.json()["upload_id"],
        b_visitor=b_visitor,
        b_subscription=b_subscription["_id"],
        b_delivery=b_delivery["_id"],
        b_rule=b_rule["_id"],
    )


def _visitor_of(client: TestClient, widget_id: str, origin: str) -> dict[str, str]:
    """The headers of a new visitor of ``widget_id``."""
    opened = client.post(f"/v1/widget/{widget_id}/sessions", headers={"Origin": origin}, json={})
    assert opened.status_code == 201, opened.text
    return {**bearer(opened.json()["token"]), "Origin": origin}


@pytest.fixture(scope="module")
def a_credentials(client: TestClient, settings: Settings, world: World) -> dict[str, Any]:
    every_scope = sorted(TENANT_SCOPES)
    key = issue_key(client, settings, world.a, every_scope)
    return {
        "jwt": tenant_headers(settings, world.a, scopes=every_scope),
        "api-key": bearer(key["key"]),
    }


def test_every_route_is_in_the_matrix(client: TestClient) -> None:
    assert routed(client) == set(MATRIX), "add the new route to MATRIX in this file"


@pytest.mark.parametrize("credential", ["jwt", "api-key"])
@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0].upper()} {r[1]}")
def test_tenant_a_gets_nothing_of_tenant_b(
    route: tuple[str, str],
    credential: str,
    client: TestClient,
    world: World,
    a_credentials: dict[str, Any],
) -> None:
    probe = MATRIX[route]
    path, kwargs = probe.request(world)
    headers = {**kwargs.pop("headers", {})}
    if probe.credentialed:
        headers.update(a_credentials[credential])
    response = client.request(route[0].upper(), path, headers=headers, **kwargs)
    assert response.status_code in probe.allowed, response.text
    # What A itself sent (B's ids in the path, an account id in the body) may be echoed, e.g.
    # in the problem's ``instance``; nothing else of B's may appear.
    sent = path + json.dumps(kwargs, default=str)
    for secret in world.b_secrets:
        if secret not in sent:
            assert secret not in response.text, f"{secret} leaked"
    if response.status_code == 404:
        assert response.headers["content-type"] == "application/problem+json"


def test_a_missing_id_and_tenant_bs_id_answer_alike(
    client: TestClient, world: World, a_credentials: dict[str, Any]
) -> None:
    headers = a_credentials["jwt"]
    for template, real in (
        ("/v1/messages/{}", world.b_message),
        ("/v1/conversations/{}", world.b_conversation),
        ("/v1/conversations/{}/messages", world.b_conversation),
        ("/v1/dead-letters/{}", world.b_dead_letter),
        ("/v1/admin/channels/{}", world.b_channel),
        ("/v1/admin/widgets/{}", world.b_widget),
        ("/v1/webhooks/subscriptions/{}", world.b_subscription),
    ):
        missing = "x" + real[1:]
        theirs = client.get(template.format(real), headers=headers).json()
        absent = client.get(template.format(missing), headers=headers).json()
        assert theirs["status"] == absent["status"] == 404
        assert theirs["title"] == absent["title"]
        assert theirs["detail"].replace(real, missing) == absent["detail"]


def test_tenant_bs_data_is_intact_after_the_matrix(
    client: TestClient, settings: Settings, world: World, db: Database[Any]
) -> None:
    as_b = tenant_headers(settings, world.b)
    assert client.get(f"/v1/messages/{world.b_message}", headers=as_b).status_code == 200
    conversation = client.get(f"/v1/conversations/{world.b_conversation}", headers=as_b)
    assert conversation.status_code == 200 and conversation.json()["state"] == "open"
    dead = client.get(f"/v1/dead-letters/{world.b_dead_letter}", headers=as_b)
    assert dead.status_code == 200 and dead.json()["state"] == "open"
    keys = db["api_keys"].find_one({"_id": world.b_key})
    assert keys is not None and keys["state"] == "active"
    tenant = db["tenants"].find_one({"_id": world.b})
    assert tenant is not None and tenant["state"] == "active"
    widget = client.get(f"/v1/admin/widgets/{world.b_widget}", headers=as_b)
    assert widget.status_code == 200 and widget.json()["enabled"] is True
    subscription = client.get(f"/v1/webhooks/subscriptions/{world.b_subscription}", headers=as_b)
    assert subscription.status_code == 200 and subscription.json()["status"] == "active"
    assert db["webhook_subscriptions"].find_one({"_id": world.b_subscription}) is not None
    assert db["webhook_deliveries"].find_one({"_id": world.b_delivery}) is not None
    assert db["webhook_subscriptions"].count_documents({"tenant_id": world.a}) == 0
    assert db["messages"].count_documents({"tenant_id": world.b}) == 1
    assert db["messages"].count_documents({"tenant_id": world.a}) == 0


@pytest.fixture(scope="module")
def a_visitors(client: TestClient, settings: Settings, world: World) -> dict[str, dict[str, str]]:
    """Visitors that are not B's visitor: of tenant A's widget, of another widget of B, and
    another visitor of B's own widget."""
    other_b_widget = client.post(
        "/v1/admin/widgets",
        headers=tenant_headers(settings, world.b),
        json={"name": "other", "allowed_origins": [B_ORIGIN]},
    ).json()["id"]
    a_widget = client.post(
        "/v1/admin/widgets",
        headers=tenant_headers(settings, world.a),
        json={"name": "a", "allowed_origins": [A_ORIGIN]},
    ).json()["id"]
    return {
        "tenant-a": _visitor_of(client, a_widget, A_ORIGIN),
        "widget-b2": _visitor_of(client, other_b_widget, B_ORIGIN),
        "visitor-b2": _visitor_of(client, world.b_widget, B_ORIGIN),
    }


@pytest.mark.parametrize("who", ["tenant-a", "widget-b2", "visitor-b2"])
def test_another_visitor_gets_nothing_of_visitor_b(
    who: str, client: TestClient, world: World, a_visitors: dict[str, dict[str, str]]
) -> None:
    headers = a_visitors[who]
    upload = client.get(f"/v1/widget/uploads/{world.b_upload}", headers=headers)
    assert upload.status_code == 404, upload.text
    history = client.get("/v1/widget/messages", headers=headers)
    assert history.status_code == 200 and history.json()["conversation"] is None
    for secret in world.b_secrets:
        assert secret not in upload.text.replace(world.b_upload, "") + history.text
    own = client.get(f"/v1/widget/uploads/{world.b_upload}", headers=world.b_visitor)
    assert own.status_code == 200


@pytest.mark.parametrize(
    "route",
    sorted(r for r, probe in MATRIX.items() if probe.credentialed and "/v1/widget/" not in r[1]),
    ids=lambda r: f"{r[0].upper()} {r[1]}",
)
def test_a_visitor_token_opens_no_api_route(
    route: tuple[str, str], client: TestClient, world: World
) -> None:
    path, kwargs = MATRIX[route].request(world)
    headers = {**kwargs.pop("headers", {}), "Authorization": world.b_visitor["Authorization"]}
    response = client.request(route[0].upper(), path, headers=headers, **kwargs)
    assert response.status_code == 401, response.text
