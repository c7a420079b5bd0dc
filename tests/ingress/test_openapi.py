"""``GET /openapi.json``: a valid OpenAPI 3.1 document that describes every route as it answers.

The conformance tests make real calls in-process (real MongoDB and Redis, as in
``test_ingress_api.py``) and validate each answer against the schema the document gives for its
status code and media type, resolving ``#/components/schemas`` refs through a registry.
"""

from __future__ import annotations

import importlib.metadata
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
import redis
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from pymongo.database import Database
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from core.settings import Settings
from core.timeutil import utcnow
from core.tokens import mint_token
from ingress import api_models, openapi
from ingress.api_models import json_of
from ingress.app import create_app
from storage.dead_letters import DeadLetterRepository
from storage.messages import reply_id
from tests.fakes.accounts import ProviderAccounts

DOCUMENT_URI = "urn:parley:openapi"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def app(
    db: Database[Any], broker: redis.Redis, providers: ProviderAccounts, settings: Settings
) -> Starlette:
    return create_app(providers.settings(settings))


@pytest.fixture(scope="module")
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def auth(settings: Settings, tenant: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {mint_token(settings.require_jwt_secret(), tenant, 'u', 600)}"
    }


def app_operations(app: Starlette) -> set[tuple[str, str]]:
    """(method, path) of every HTTP route; HEAD is Starlette's implicit twin of GET."""
    return {
        (method.lower(), route.path_format)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }


def documented_operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method, path, operation


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def assert_conforms(
    document: dict[str, Any], method: str, path: str, response: httpx2.Response
) -> None:
    """The answer's status, media type and JSON body are the ones the document gives."""
    responses = document["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in responses, f"{method.upper()} {path} answered {status}: not documented"
    documented = responses[status]
    if "content" not in documented:
        assert response.content == b""
        return
    media_type = response.headers["content-type"].split(";")[0].strip()
    assert media_type in documented["content"], f"{media_type} not documented for {status}"
    pointer = "/".join(
        ["", "paths", _escape(path), method, "responses", status, "content", _escape(media_type)]
    )
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, DRAFT202012.create_resource(document)
    )
    validator = Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#{pointer}/schema"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    body = response.json() if media_type.endswith("json") else response.text
    validator.validate(body)


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any], settings: Settings) -> None:
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Parley"
    assert document["info"]["version"] == importlib.metadata.version("parley")
    assert document["servers"] == [{"url": settings.public_base_url.rstrip("/")}]


def test_every_route_of_the_app_is_documented_and_nothing_else(
    app: Starlette, document: dict[str, Any]
) -> None:
    documented = {(method, path) for method, path, _ in documented_operations(document)}
    assert documented == app_operations(app)


def test_a_route_the_operations_table_does_not_describe_fails_the_build(
    app: Starlette, settings: Settings
) -> None:
    async def undescribed(request: Request) -> Response:
        return Response()

    routes = [*app.routes, Route("/v1/undescribed", undescribed)]
    with pytest.raises(openapi.UndescribedRoute, match="/v1/undescribed"):
        openapi.build_document(routes, settings.public_base_url)


def test_every_operation_declares_its_security_explicitly(document: dict[str, Any]) -> None:
    bearer = document["components"]["securitySchemes"]["bearerAuth"]
    assert (bearer["type"], bearer["scheme"], bearer["bearerFormat"]) == ("http", "bearer", "JWT")
    for method, path, operation in documented_operations(document):
        assert "security" in operation, f"{method} {path}"
        if path.startswith("/v1/widget/"):
            # The session route's gate is the Origin; every other takes a visitor token only.
            visitor = path != "/v1/widget/{widget_id}/sessions"
            assert operation["security"] == ([{"visitorAuth": []}] if visitor else [])
            assert operation.get("x-visitor", False) is visitor, f"{method} {path}"
            for status in ("403", "429") + (("401", "503") if visitor else ()):
                assert status in operation["responses"], f"{method} {path} {status}"
        elif path.startswith("/v1/"):
            scope = operation["x-required-scope"]
            assert operation["security"] == [
                {"bearerAuth": [scope]},
                {"apiKeyAuth": [scope]},
            ], f"{method} {path}"
            for status in ("401", "403", "429", "503"):
                assert status in operation["responses"], f"{method} {path} {status}"
            assert "RateLimit-Remaining" in operation["responses"]["429"]["headers"]
        else:
            assert operation["security"] == [], f"{method} {path}"
        if path.startswith("/webhooks/"):
            assert "verified by" in operation["description"].lower(), f"{method} {path}"


def test_each_operation_needs_the_scope_its_route_declares(
    app: Starlette, document: dict[str, Any]
) -> None:
    routed = {
        (method.lower(), route.path_format): getattr(route, "scope", None)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    for method, path, operation in documented_operations(document):
        assert operation.get("x-required-scope") == routed[(method, path)], f"{method} {path}"
    assert routed[("post", "/v1/messages")] == "messages:write"
    assert routed[("get", "/v1/conversations/{conversation_id}/messages")] == "conversations:read"
    assert routed[("get", "/v1/conversations")] == "conversations:read"
    assert routed[("post", "/v1/conversations/{conversation_id}/close")] == "conversations:manage"
    assert routed[("delete", "/v1/dead-letters/{dead_letter_id}")] == "deadletters:manage"
    assert routed[("post", "/v1/admin/tenants")] == "admin"


def test_operations_have_unique_ids_summaries_and_problem_json_errors(
    document: dict[str, Any],
) -> None:
    ids = [operation["operationId"] for _, _, operation in documented_operations(document)]
    assert len(ids) == len(set(ids))
    for method, path, operation in documented_operations(document):
        assert operation["summary"], f"{method} {path}"
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                assert list(answer["content"]) == ["application/problem+json"], (method, path)


def test_the_query_parameters_each_route_reads_are_documented(document: dict[str, Any]) -> None:
    def names(method: str, path: str) -> set[str]:
        return {p["name"] for p in document["paths"][path][method].get("parameters", [])}

    assert {"Idempotency-Key"} <= names("post", "/v1/messages")
    assert {"limit", "cursor", "conversation_id"} <= names(
        "get", "/v1/conversations/{conversation_id}/messages"
    )
    assert {"limit", "cursor", "channel", "stage", "reason", "state"} <= names(
        "get", "/v1/dead-letters"
    )
    assert {"hub.mode", "hub.verify_token", "hub.challenge"} <= names(
        "get", "/webhooks/{channel}/{config_id}"
    )
    webhook_body = document["paths"]["/webhooks/{channel}/{config_id}"]["post"]["requestBody"]
    assert set(webhook_body["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }


def test_the_document_is_built_on_the_first_request_only(
    db: Database[Any], broker: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[int] = []
    build = openapi.build_document

    def counting(*args: Any) -> dict[str, Any]:
        builds.append(1)
        return build(*args)

    monkeypatch.setattr(openapi, "build_document", counting)
    with TestClient(create_app()) as fresh:
        first, again = fresh.get("/openapi.json"), fresh.get("/openapi.json")
    assert first.content == again.content
    assert len(builds) == 1


def test_accepting_a_message_answers_as_documented(
    client: TestClient, document: dict[str, Any], settings: Settings, tenant: str
) -> None:
    headers = {**auth(settings, tenant), "Idempotency-Key": "openapi-1"}
    accepted = client.post("/v1/messages", headers=headers, json={"user_id": "ana", "text": "hi"})
    assert accepted.status_code == 202
    assert_conforms(document, "post", "/v1/messages", accepted)

    reused = client.post("/v1/messages", headers=headers, json={"user_id": "ana", "text": "ho"})
    assert reused.status_code == 422
    assert_conforms(document, "post", "/v1/messages", reused)

    invalid = client.post("/v1/messages", headers=auth(settings, tenant), json={"user_id": ""})
    assert invalid.status_code == 422
    assert {e["field"] for e in invalid.json()["errors"]} == {"user_id", "text"}
    assert_conforms(document, "post", "/v1/messages", invalid)

    anonymous = client.post("/v1/messages", json={"user_id": "ana", "text": "hi"})
    assert anonymous.status_code == 401
    assert_conforms(document, "post", "/v1/messages", anonymous)

    malformed = client.post("/v1/messages", headers=auth(settings, tenant), content=b"{")
    assert malformed.status_code == 400
    assert_conforms(document, "post", "/v1/messages", malformed)


def test_a_message_and_its_conversation_answer_as_documented(
    client: TestClient, document: dict[str, Any], settings: Settings, db: Database[Any], tenant: str
) -> None:
    headers = auth(settings, tenant)
    accepted = client.post("/v1/messages", headers=headers, json={"user_id": "ana", "text": "hi"})
    message_id, conversation_id = accepted.json()["message_id"], accepted.json()["conversation_id"]
    insert_failed_reply(db, tenant, conversation_id, message_id)

    message = client.get(f"/v1/messages/{message_id}", headers=headers)
    assert message.status_code == 200
    assert_conforms(document, "get", "/v1/messages/{message_id}", message)

    path = "/v1/conversations/{conversation_id}/messages"
    page = client.get(f"/v1/conversations/{conversation_id}/messages?limit=1", headers=headers)
    assert page.status_code == 200
    assert page.json()["next_cursor"] is not None
    assert_conforms(document, "get", path, page)
    rest = client.get(
        f"/v1/conversations/{conversation_id}/messages",
        headers=headers,
        params={"cursor": page.json()["next_cursor"]},
    )
    assert [m["direction"] for m in rest.json()["data"]] == ["outbound"]
    assert_conforms(document, "get", path, rest)

    refused = {
        path: client.get(f"/v1/conversations/{conversation_id}/messages?cursor=x", headers=headers),
        "/v1/messages/{message_id}": client.get("/v1/messages/msg_missing", headers=headers),
    }
    missing = client.get("/v1/conversations/conv_missing/messages", headers=headers)
    assert [r.status_code for r in (*refused.values(), missing)] == [400, 404, 404]
    for template, response in [*refused.items(), (path, missing)]:
        assert_conforms(document, "get", template, response)


def insert_failed_reply(
    db: Database[Any], tenant: str, conversation_id: str, inbound_id: str
) -> None:
    """A bot reply whose delivery failed for good, stored as the workers leave it."""
    now = utcnow()
    rid = reply_id(inbound_id)
    db["messages"].insert_one(
        {
            "_id": rid,
            "tenant_id": tenant,
            "conversation_id": conversation_id,
            "channel": "api",
            "direction": "outbound",
            "user_id": "ana",
            "in_reply_to": inbound_id,
            "dedupe_key": f"reply:{rid}",
            "text": "hello\n1. Yes",
            "parts": [
                {"type": "text", "text": "hello"},
                {"type": "quick_replies", "options": [{"title": "Yes", "payload": "y"}]},
            ],
            "status": "failed",
            "failure": {"stage": "deliver", "reason": "permanent", "error": "SendFailed: 400"},
            "journey": {"generated": now, "failed": now},
            "created_at": now,
            "updated_at": now,
        }
    )


def test_channel_configs_and_their_webhooks_answer_as_documented(
    client: TestClient,
    document: dict[str, Any],
    settings: Settings,
    tenant: str,
    providers: ProviderAccounts,
) -> None:
    headers = auth(settings, tenant)
    config = {
        "channel": "whatsapp",
        "account_id": str(200000000000000 + secrets.randbelow(10**14)),
        "secrets": {"access_token": "a", "app_secret": "s", "verify_token": "v"},
        "options": {"quote_replies": "true"},
    }
    unproven = client.post("/v1/admin/channels", headers=headers, json=config)
    assert unproven.status_code == 422
    assert_conforms(document, "post", "/v1/admin/channels", unproven)
    providers.whatsapp.fail_with_server_error()
    unavailable = client.post("/v1/admin/channels", headers=headers, json=providers.own(config))
    assert unavailable.status_code == 502
    assert_conforms(document, "post", "/v1/admin/channels", unavailable)
    created = client.post("/v1/admin/channels", headers=headers, json=config)
    assert created.status_code == 201
    assert_conforms(document, "post", "/v1/admin/channels", created)
    duplicate = client.post("/v1/admin/channels", headers=headers, json=config)
    assert duplicate.status_code == 409
    assert_conforms(document, "post", "/v1/admin/channels", duplicate)
    invalid = client.post("/v1/admin/channels", headers=headers, json={**config, "secrets": {}})
    assert invalid.status_code == 422
    assert_conforms(document, "post", "/v1/admin/channels", invalid)

    listed = client.get("/v1/admin/channels", headers=headers)
    assert_conforms(document, "get", "/v1/admin/channels", listed)
    config_id = created.json()["id"]
    one = client.get(f"/v1/admin/channels/{config_id}", headers=headers)
    assert one.status_code == 200
    assert_conforms(document, "get", "/v1/admin/channels/{config_id}", one)

    webhook = "/webhooks/{channel}/{config_id}"
    handshake = client.get(
        f"/webhooks/whatsapp/{config_id}",
        params={"hub.mode": "subscribe", "hub.verify_token": "v", "hub.challenge": "42"},
    )
    assert (handshake.status_code, handshake.text) == (200, "42")
    assert_conforms(document, "get", webhook, handshake)
    unsigned = client.post(f"/webhooks/whatsapp/{config_id}", json={"object": "x"})
    assert unsigned.status_code == 401
    assert_conforms(document, "post", webhook, unsigned)
    unknown = client.post("/webhooks/slack/chc_missing", json={})
    assert unknown.status_code == 404
    assert_conforms(document, "post", webhook, unknown)


def test_dead_letters_answer_as_documented(
    client: TestClient, document: dict[str, Any], settings: Settings, db: Database[Any], tenant: str
) -> None:
    recorded = DeadLetterRepository(db).record(
        tenant_id=tenant,
        message_id="msg_" + secrets.token_hex(8),
        conversation_id="conv_1",
        channel="api",
        stage="generate",
        attempts=5,
        error_type="EngineUnavailable",
        error_message="the engine did not answer",
        classification="engine_unavailable",
        at=utcnow(),
    )
    headers = auth(settings, tenant)
    listed = client.get("/v1/dead-letters", headers=headers, params={"stage": "generate"})
    assert [item["id"] for item in listed.json()["data"]] == [recorded["_id"]]
    assert_conforms(document, "get", "/v1/dead-letters", listed)
    bad_filter = client.get("/v1/dead-letters", headers=headers, params={"reason": "bored"})
    assert bad_filter.status_code == 400
    assert_conforms(document, "get", "/v1/dead-letters", bad_filter)

    one = client.get(f"/v1/dead-letters/{recorded['_id']}", headers=headers)
    assert one.status_code == 200
    assert_conforms(document, "get", "/v1/dead-letters/{dead_letter_id}", one)
    purged = client.delete(f"/v1/dead-letters/{recorded['_id']}", headers=headers)
    assert purged.status_code == 204
    assert_conforms(document, "delete", "/v1/dead-letters/{dead_letter_id}", purged)
    gone = client.post(f"/v1/dead-letters/{recorded['_id']}/replay", headers=headers)
    assert gone.status_code == 404
    assert_conforms(document, "post", "/v1/dead-letters/{dead_letter_id}/replay", gone)


def test_health_and_the_document_itself_answer_as_documented(
    client: TestClient, document: dict[str, Any]
) -> None:
    assert_conforms(document, "get", "/health/live", client.get("/health/live"))
    # 200 or the not-ready problem, depending on which services run: either is documented.
    assert_conforms(document, "get", "/health/ready", client.get("/health/ready"))
    assert_conforms(document, "get", "/openapi.json", client.get("/openapi.json"))


def test_a_response_model_shows_only_its_fields_and_leaves_out_those_without_a_value() -> None:
    created = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    stored = {
        "_id": "key_1",
        "tenant_id": "acme",
        "name": "ci",
        "scopes": ["messages:write"],
        "state": "active",
        "created_at": created,
        "secret_hash": "never shown",
    }
    assert json_of(api_models.ApiKeyView.model_validate(stored)) == {
        "id": "key_1",
        "tenant_id": "acme",
        "name": "ci",
        "scopes": ["messages:write"],
        "state": "active",
        "created_at": "2024-05-01T12:00:00.123Z",
    }
    schema = api_models.ApiKeyView.model_json_schema(mode="serialization")
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"id", "tenant_id", "name", "scopes", "state", "created_at"}


def test_a_message_shows_its_failure_only_while_it_is_failed() -> None:
    at = datetime(2024, 5, 1, tzinfo=UTC)
    failed = {
        "_id": "msg_1",
        "conversation_id": "conv_1",
        "direction": "outbound",
        "channel": "api",
        "user_id": "ana",
        "text": "hi",
        "status": "failed",
        "created_at": at,
        "failure": {"stage": "deliver", "reason": "permanent", "error": "SendFailed: 400"},
    }
    shown = json_of(api_models.MessageView.model_validate(failed))
    assert shown["failure"] == {"stage": "deliver", "error": "SendFailed: 400"}
    assert (shown["parts"], shown["in_reply_to"], shown["journey"]) == ([], None, {})
    replayed = json_of(api_models.MessageView.model_validate({**failed, "status": "generated"}))
    assert "failure" not in replayed
