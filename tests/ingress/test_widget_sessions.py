"""Visitor sessions and the visitor guard: only an allowed Origin opens a session (CORS answered
for it alone); a visitor keeps its id only with its key, a signed user becomes ``user:<id>``;
sessions and visitor requests are rate-limited, refused at once when the widget or tenant is
switched off, and a visitor token reaches only its own conversation, never an API route."""

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
from core.visitor_keys import user_hash
from core.visitor_tokens import mint_visitor_token, verify_visitor_token
from ingress.app import create_app
from storage.conversations import ConversationRepository
from storage.visitor_streams import VisitorStreams
from tests.credentials import bearer, client_address, create_tenant, set_state, tenant_headers

ORIGIN = "https://shop.example"
SECRET = "identity-secret-0123456789"


@pytest.fixture(scope="module")
def client(db: Database[Any], broker: redis.Redis) -> Iterator[TestClient]:
    app = create_app(Settings(tenant_cache_seconds=0))
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as test_client:
        yield test_client


def make_widget(client: TestClient, settings: Settings, tenant: str, **fields: Any) -> str:
    body = {
        "name": "Shop",
        "allowed_origins": [ORIGIN],
        "greeting": "Hi there",
        "theme": {"title": "Help"},
        **fields,
    }
    response = client.post("/v1/admin/widgets", headers=tenant_headers(settings, tenant), json=body)
    assert response.status_code == 201, response.text
    widget_id: str = response.json()["id"]
    return widget_id


def session(
    client: TestClient, widget_id: str, body: dict[str, Any] | None = None, origin: str = ORIGIN
) -> Any:
    return client.post(
        f"/v1/widget/{widget_id}/sessions", headers={"Origin": origin}, json=body or {}
    )


def test_a_new_visitor_gets_a_token_and_the_public_widget(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    widget_id = make_widget(client, settings, tenant, identity_secret=SECRET)
    response = session(client, widget_id)
    assert response.status_code == 201, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["vary"] == "Origin"
    body = response.json()
    assert body["visitor_id"].startswith("v_") and body["visitor_key"]
    visitor = verify_visitor_token(settings.require_jwt_secret(), body["token"])
    assert (visitor.tenant_id, visitor.widget_id, visitor.visitor_id) == (
        tenant,
        widget_id,
        body["visitor_id"],
    )
    assert visitor.expires_at == body["expires_at"]
    assert body["widget"] == {
        "id": widget_id,
        "theme": {"title": "Help", "primary_color": "#2563eb", "locale": "en"},
        "greeting": "Hi there",
        "upload": {
            "max_bytes": 5 * 1024 * 1024,
            "types": ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"],
        },
    }
    assert SECRET not in response.text
    # An empty body is ``{}``.
    empty = client.post(f"/v1/widget/{widget_id}/sessions", headers={"Origin": ORIGIN})
    assert empty.status_code == 201, empty.text


def test_a_returning_visitor_keeps_its_id_only_with_its_key(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    widget_id = make_widget(client, settings, tenant)
    first, second = session(client, widget_id).json(), session(client, widget_id).json()
    again = session(
        client, widget_id, {"visitor_id": first["visitor_id"], "visitor_key": first["visitor_key"]}
    )
    assert again.status_code == 201, again.text
    assert again.json()["visitor_id"] == first["visitor_id"]
    assert again.json()["visitor_key"] == first["visitor_key"]
    for claimed, key in (
        (first["visitor_id"], second["visitor_key"]),
        (first["visitor_id"], "00" * 32),
        (first["visitor_id"], "not hex"),
    ):
        refused = session(client, widget_id, {"visitor_id": claimed, "visitor_key": key})
        assert refused.status_code == 401, refused.text
        assert refused.json()["type"].endswith("/visitor-key-invalid")
        assert refused.headers["access-control-allow-origin"] == ORIGIN
    # The key is the widget's: on another widget of the same tenant it proves nothing.
    other = make_widget(client, settings, tenant)
    elsewhere = session(
        client, other, {"visitor_id": first["visitor_id"], "visitor_key": first["visitor_key"]}
    )
    assert elsewhere.status_code == 401


def test_a_signed_user_becomes_its_user_id(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    widget_id = make_widget(client, settings, tenant, identity_secret=SECRET)
    signed = user_hash(SECRET.encode(), "42")
    response = session(client, widget_id, {"user_id": "42", "user_hash": signed})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["visitor_id"] == "user:42" and "visitor_key" not in body
    for wrong in (user_hash(SECRET.encode(), "43"), signed.upper()[:-2] + "00", "zz"):
        refused = session(client, widget_id, {"user_id": "42", "user_hash": wrong})
        assert refused.status_code == 401, wrong
        assert refused.json()["type"].endswith("/identity-invalid")
    unsigned = make_widget(client, settings, tenant)
    off = session(client, unsigned, {"user_id": "42", "user_hash": signed})
    assert off.status_code == 422 and off.json()["type"].endswith("/identity-verification-off")


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "42"},
        {"visitor_key": "k"},
        {"visitor_id": "v_1", "visitor_key": "k"},
        {"user_id": "42", "user_hash": "a", "visitor_id": "v_" + "0" * 32, "visitor_key": "k"},
        {"user_id": "4\n2", "user_hash": "a"},
        {"extra": 1},
        [],
    ],
    ids=str,
)
def test_a_bad_session_body_is_a_422(
    client: TestClient, settings: Settings, tenant: str, body: Any
) -> None:
    widget_id = make_widget(client, settings, tenant, identity_secret=SECRET)
    response = client.post(
        f"/v1/widget/{widget_id}/sessions", headers={"Origin": ORIGIN}, json=body
    )
    assert response.status_code == 422, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize("origin", [None, "https://evil.example", "https://shop.example:8443"])
def test_an_origin_the_widget_does_not_allow_gets_no_session_and_no_cors(
    client: TestClient, settings: Settings, tenant: str, origin: str | None
) -> None:
    widget_id = make_widget(client, settings, tenant)
    headers = {"Origin": origin} if origin else {}
    response = client.post(f"/v1/widget/{widget_id}/sessions", headers=headers, json={})
    assert response.status_code == 403, response.text
    assert response.json()["type"].endswith("/origin-not-allowed")
    assert not any(name.startswith("access-control-") for name in response.headers)
    preflight = client.options(
        f"/v1/widget/{widget_id}/sessions",
        headers={**headers, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403
    assert not any(name.startswith("access-control-") for name in preflight.headers)


def test_preflights_are_answered_for_allowed_origins(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    widget_id = make_widget(client, settings, tenant)
    ask = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    for path in (
        f"/v1/widget/{widget_id}/sessions",
        "/v1/widget/messages",
        "/v1/widget/uploads",
        "/v1/widget/uploads/upl_x",
    ):
        answer = client.options(path, headers=ask)
        assert answer.status_code == 204, path
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        assert "Authorization" in answer.headers["access-control-allow-headers"]
        assert "POST" in answer.headers["access-control-allow-methods"]
        assert answer.headers["vary"] == "Origin"
    foreign = client.options("/v1/widget/messages", headers={**ask, "Origin": "https://x.test"})
    assert foreign.status_code == 403


def test_unknown_disabled_widgets_and_disabled_tenants_get_no_session(
    client: TestClient, settings: Settings
) -> None:
    tenant = create_tenant(client, settings)
    widget_id = make_widget(client, settings, tenant)
    assert session(client, "wgt_" + "0" * 32).status_code == 404
    set_state(client, settings, tenant, "disabled")
    refused = session(client, widget_id)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/tenant-disabled")
    set_state(client, settings, tenant, "active")
    disable = client.patch(
        f"/v1/admin/widgets/{widget_id}",
        headers=tenant_headers(settings, tenant),
        json={"enabled": False},
    )
    assert disable.status_code == 200
    refused = session(client, widget_id)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/widget-disabled")
    assert refused.headers["access-control-allow-origin"] == ORIGIN


def test_sessions_are_limited_per_widget_and_per_visitor(
    db: Database[Any], broker: redis.Redis, settings: Settings, tenant: str
) -> None:
    # Refills slow enough that none lands during the test, however slow the machine.
    limits = Settings(
        rate_limit_widget_burst=4,
        rate_limit_widget_per_second=0.001,
        rate_limit_visitor_burst=2,
        rate_limit_visitor_per_second=0.001,
    )
    with TestClient(create_app(limits), client=client_address()) as limited:
        widget_id = make_widget(limited, settings, tenant)
        first = session(limited, widget_id).json()  # the address's visitor bucket: 1 of 2
        returning = {"visitor_id": first["visitor_id"], "visitor_key": first["visitor_key"]}
        assert session(limited, widget_id, returning).status_code == 201
        assert session(limited, widget_id, returning).status_code == 201
        refused = session(limited, widget_id, returning)
        assert refused.status_code == 429, refused.text
        assert refused.json()["limit"] == "visitor" and int(refused.headers["retry-after"]) >= 1
        assert refused.headers["access-control-allow-origin"] == ORIGIN
        fourth = session(limited, widget_id).json()  # the widget's 4th session
        other = {"visitor_id": fourth["visitor_id"], "visitor_key": fourth["visitor_key"]}
        widget_full = session(limited, widget_id, other)
        assert widget_full.status_code == 429 and widget_full.json()["limit"] == "widget"


def _visitor(client: TestClient, widget_id: str) -> tuple[str, dict[str, str]]:
    body = session(client, widget_id).json()
    return body["visitor_id"], {**bearer(body["token"]), "Origin": ORIGIN}


def test_the_guard_refuses_a_widget_at_once_once_it_is_disabled(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    widget_id = make_widget(client, settings, tenant)
    _, headers = _visitor(client, widget_id)
    allowed = client.get("/v1/widget/messages", headers=headers)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    patched = client.patch(
        f"/v1/admin/widgets/{widget_id}",
        headers=tenant_headers(settings, tenant),
        json={"enabled": False},
    )
    assert patched.status_code == 200
    refused = client.get("/v1/widget/messages", headers=headers)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/widget-disabled")
    assert refused.headers["access-control-allow-origin"] == ORIGIN


def test_the_guard_wants_a_valid_visitor_token_from_an_allowed_origin(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    widget_id = make_widget(client, settings, tenant)
    visitor_id, headers = _visitor(client, widget_id)
    secret = settings.require_jwt_secret()
    expired, _ = mint_visitor_token(secret, tenant, widget_id, visitor_id, -3600)
    for credential in (
        {},
        tenant_headers(settings, tenant),  # an API token is no visitor token
        bearer(expired),
        bearer(mint_visitor_token(secret, tenant, "wgt_gone", visitor_id, 60)[0]),
        bearer(mint_visitor_token(secret, "other", widget_id, visitor_id, 60)[0]),
    ):
        refused = client.get("/v1/widget/messages", headers={"Origin": ORIGIN, **credential})
        assert refused.status_code == 401, refused.text
        assert refused.headers["access-control-allow-origin"] == ORIGIN  # the page may renew
    foreign = client.get("/v1/widget/messages", headers={**headers, "Origin": "https://x.test"})
    assert foreign.status_code == 403 and foreign.json()["type"].endswith("/origin-not-allowed")
    assert "access-control-allow-origin" not in foreign.headers
    # A same-origin GET carries no Origin; the token is what it must hold.
    no_origin = client.get("/v1/widget/messages", headers=bearer(headers["Authorization"][7:]))
    assert no_origin.status_code == 200
    # And a visitor token opens no API route.
    api = client.get("/v1/conversations", headers=headers)
    assert api.status_code == 401


def test_visitor_requests_are_limited_per_visitor(
    db: Database[Any], broker: redis.Redis, settings: Settings, tenant: str
) -> None:
    limits = Settings(rate_limit_visitor_burst=3)
    with TestClient(create_app(limits), client=client_address()) as limited:
        widget_id = make_widget(limited, settings, tenant)
        body = session(limited, widget_id).json()
        headers = {**bearer(body["token"]), "Origin": ORIGIN}
        answers = [limited.get("/v1/widget/messages", headers=headers) for _ in range(4)]
        assert [a.status_code for a in answers[:3]] == [200, 200, 200]
        assert answers[3].status_code == 429 and int(answers[3].headers["retry-after"]) >= 1
        assert answers[3].json()["limit"] == "visitor"


def _message(
    tenant: str, conversation_id: str, visitor_id: str, text: str, **fields: Any
) -> dict[str, Any]:
    now = utcnow()
    return {
        "_id": new_id("msg"),
        "tenant_id": tenant,
        "conversation_id": conversation_id,
        "channel": "web",
        "direction": "inbound",
        "user_id": visitor_id,
        "text": text,
        "status": "received",
        "journey": {"received": now},
        "created_at": now,
        "updated_at": now,
        "dedupe_key": new_id("dk"),
        **fields,
    }


def test_the_history_is_the_visitors_own_conversation_oldest_first(
    client: TestClient,
    settings: Settings,
    tenant: str,
    db: Database[Any],
    redis_client: redis.Redis,
) -> None:
    widget_id = make_widget(client, settings, tenant)
    visitor_id, headers = _visitor(client, widget_id)
    other_id, other_headers = _visitor(client, widget_id)
    empty = client.get("/v1/widget/messages", headers=headers).json()
    assert empty == {"conversation": None, "messages": [], "last_event_id": "0-0"}

    conversations = ConversationRepository(db)
    mine = conversations.resolve_open(tenant, "web", visitor_id, "test", scope=widget_id)
    theirs = conversations.resolve_open(tenant, "web", other_id, "test", scope=widget_id)
    first = _message(tenant, mine, visitor_id, "hello", client_message_id="c_1")
    attachment = {
        "upload_id": "upl_1",
        "content_type": "image/png",
        "filename": "a.png",
        "size": 3,
    }
    upload = _message(
        tenant, mine, visitor_id, "", kind="image", content={"attachments": [attachment]}
    )
    reply = _message(
        tenant,
        mine,
        visitor_id,
        "Hi!",
        _id=first["_id"] + ".r",
        direction="outbound",
        status="sent",
        parts=[{"type": "text", "text": "Hi!"}],
    )
    db["messages"].insert_many([first, upload, reply])
    db["messages"].insert_one(_message(tenant, theirs, other_id, "not yours"))
    event_id = VisitorStreams(redis_client).publish(
        tenant, widget_id, visitor_id, {"type": "typing", "state": "on"}
    )

    history = client.get("/v1/widget/messages", headers=headers)
    assert history.status_code == 200, history.text
    body = history.json()
    assert body["conversation"] == {"id": mine, "status": "open"}
    assert body["last_event_id"] == event_id
    assert [m["id"] for m in body["messages"]] == [first["_id"], reply["_id"], upload["_id"]]
    assert body["messages"][0] == {
        "id": first["_id"],
        "conversation_id": mine,
        "direction": "inbound",
        "text": "hello",
        "parts": [],
        "attachments": [],
        "client_message_id": "c_1",
        "status": "received",
        "created_at": body["messages"][0]["created_at"],
    }
    assert body["messages"][1]["parts"] == [{"type": "text", "text": "Hi!"}]
    assert body["messages"][2]["attachments"] == [attachment]
    assert "not yours" not in history.text

    conversations.close(tenant, mine, "closed")
    closed = client.get("/v1/widget/messages", headers=headers).json()
    assert closed["conversation"] == {"id": mine, "status": "closed"}
    assert len(closed["messages"]) == 3
    theirs_seen = client.get("/v1/widget/messages", headers=other_headers).json()
    assert [m["text"] for m in theirs_seen["messages"]] == ["not yours"]


def test_a_signed_users_sessions_and_requests_share_its_visitor_limit(
    db: Database[Any], broker: redis.Redis, settings: Settings, tenant: str
) -> None:
    limits = Settings(rate_limit_visitor_burst=2)
    with TestClient(create_app(limits), client=client_address()) as limited:
        widget_id = make_widget(limited, settings, tenant, identity_secret=SECRET)
        signed = {"user_id": "7", "user_hash": user_hash(SECRET.encode(), "7")}
        opened = session(limited, widget_id, signed)
        assert opened.status_code == 201, opened.text
        headers = {**bearer(opened.json()["token"]), "Origin": ORIGIN}
        assert limited.get("/v1/widget/messages", headers=headers).status_code == 200
        refused = session(limited, widget_id, signed)
        assert refused.status_code == 429 and refused.json()["limit"] == "visitor"
