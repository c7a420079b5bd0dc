"""Authentication and authorization at the ingress, on the real services: JWTs (HS256 and
RS256/ES256 from a JWKS served over HTTP), API keys with rotation and revocation, scopes,
disabled tenants, and failed attempts limited per source."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pymongo.database import Database
from starlette.testclient import TestClient
from testenv import free_port

from core.settings import Settings
from core.tokens import mint_token
from ingress.app import create_app
from tests.credentials import (
    admin_headers,
    bearer,
    client_address,
    create_tenant,
    issue_key,
    key_secret,
    set_state,
    tenant_headers,
)
from tests.fakes.accounts import ProviderAccounts

ISSUER = "https://issuer.parley.test/"
AUDIENCE = "parley-api"
MESSAGE = {"user_id": "ana", "text": "hello"}


class JwksServer:
    """A real HTTP server that serves a JWKS document: one RSA and one EC P-256 key."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.requests = 0
        keys = [
            {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key())), "kid": "r1"},
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key())), "kid": "e1"},
        ]
        body = json.dumps({"keys": [{**k, "use": "sig"} for k in keys]}).encode()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.url = f"http://127.0.0.1:{self.port}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def claims(tenant: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "tenant": tenant,
        "sub": "svc",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now + 300,
        **extra,
    }


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    with JwksServer() as server:
        yield server


@pytest.fixture(scope="module")
def strict_settings(jwks: JwksServer) -> Settings:
    """Issuer, audience and a JWKS configured; tenant records read on every request."""
    return Settings(
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_jwks_url=jwks.url,
        tenant_cache_seconds=0,
    )


@pytest.fixture(scope="module")
def strict(
    strict_settings: Settings, db: Database[Any], broker: redis.Redis
) -> Iterator[TestClient]:
    app = create_app(strict_settings)
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def client(
    db: Database[Any], broker: redis.Redis, providers: ProviderAccounts
) -> Iterator[TestClient]:
    app = create_app(providers.settings(Settings(tenant_cache_seconds=0)))
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as test_client:
        yield test_client


def messages_of(db: Database[Any], tenant: str) -> int:
    return db["messages"].count_documents({"tenant_id": tenant})


def assert_problem(response: Any, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/" + slug)


def test_rs256_and_es256_tokens_from_the_jwks_are_accepted(
    strict: TestClient, jwks: JwksServer, db: Database[Any], tenant: str
) -> None:
    for key, algorithm, kid in ((jwks.rsa, "RS256", "r1"), (jwks.ec, "ES256", "e1")):
        token = jwt.encode(claims(tenant), key, algorithm=algorithm, headers={"kid": kid})
        response = strict.post("/v1/messages", headers=bearer(token), json=MESSAGE)
        assert response.status_code == 202, (algorithm, response.text)
    assert messages_of(db, tenant) == 2


def _bad_tokens(jwks: JwksServer, settings: Settings, tenant: str) -> dict[str, str]:
    now = int(time.time())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = jwks.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs = settings.require_jwt_secret()
    rs = {"algorithm": "RS256", "headers": {"kid": "r1"}}
    return {
        "expired": jwt.encode(claims(tenant, exp=now - 120), jwks.rsa, **rs),
        "not-yet-valid": jwt.encode(claims(tenant, nbf=now + 600), jwks.rsa, **rs),
        "wrong-audience": jwt.encode(claims(tenant, aud="someone-else"), jwks.rsa, **rs),
        "wrong-issuer": jwt.encode(claims(tenant, iss="https://evil.test/"), jwks.rsa, **rs),
        "no-audience": jwt.encode(
            {k: v for k, v in claims(tenant).items() if k != "aud"}, jwks.rsa, **rs
        ),
        "wrong-signature": jwt.encode(claims(tenant), stranger, **rs),
        "unknown-kid": jwt.encode(
            claims(tenant), stranger, algorithm="RS256", headers={"kid": "nope"}
        ),
        "hs256-wrong-secret": jwt.encode(claims(tenant), "x" * 40, algorithm="HS256"),
        "no-tenant": jwt.encode(
            {k: v for k, v in claims(tenant).items() if k != "tenant"}, hs, algorithm="HS256"
        ),
        # The public key used as an HMAC secret: the classic algorithm-confusion forgery.
        "alg-confusion": _hmac_forgery(claims(tenant), public_pem),
        "alg-none": jwt.encode(claims(tenant), None, algorithm="none"),
        # Signed ES256 but naming the RSA key: the key does not fit the algorithm.
        "es256-naming-an-rsa-key": jwt.encode(
            claims(tenant), jwks.ec, algorithm="ES256", headers={"kid": "r1"}
        ),
        "rs256-naming-an-ec-key": jwt.encode(
            claims(tenant), jwks.rsa, algorithm="RS256", headers={"kid": "e1"}
        ),
        "alg-not-a-string": _hmac_forgery(claims(tenant), hs, header={"alg": ["HS256"]}),
    }


def _hmac_forgery(
    payload: dict[str, Any], secret: bytes, header: dict[str, Any] | None = None
) -> str:
    """An HS256 token keyed with ``secret`` (PyJWT refuses PEM keys as HMAC secrets, so sign by
    hand), under ``header`` if given."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    head = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT", "kid": "r1"}).encode())
    body = b64(json.dumps(payload).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "not-yet-valid",
        "wrong-audience",
        "wrong-issuer",
        "no-audience",
        "wrong-signature",
        "unknown-kid",
        "hs256-wrong-secret",
        "no-tenant",
        "alg-confusion",
        "alg-none",
        "es256-naming-an-rsa-key",
        "rs256-naming-an-ec-key",
        "alg-not-a-string",
    ],
)
def test_a_bad_jwt_is_refused_and_stores_nothing(
    case: str,
    strict: TestClient,
    strict_settings: Settings,
    jwks: JwksServer,
    db: Database[Any],
    tenant: str,
) -> None:
    token = _bad_tokens(jwks, strict_settings, tenant)[case]
    response = strict.post("/v1/messages", headers=bearer(token), json=MESSAGE)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert token not in response.text
    assert messages_of(db, tenant) == 0


def test_refusals_say_why_without_quoting_the_token(
    strict: TestClient, strict_settings: Settings, jwks: JwksServer, tenant: str
) -> None:
    tokens = _bad_tokens(jwks, strict_settings, tenant)
    details = {
        case: strict.get("/v1/messages/msg_x", headers=bearer(tokens[case])).json()["detail"]
        for case in ("expired", "not-yet-valid", "wrong-audience", "wrong-signature")
    }
    assert details == {
        "expired": "the token has expired",
        "not-yet-valid": "the token is not valid yet",
        "wrong-audience": "the token is for another audience",
        "wrong-signature": "the token's signature is not valid",
    }


def test_a_small_clock_skew_is_tolerated(strict: TestClient, jwks: JwksServer, tenant: str) -> None:
    now = int(time.time())
    token = jwt.encode(
        claims(tenant, nbf=now + 5, exp=now - 5), jwks.rsa, algorithm="RS256", headers={"kid": "r1"}
    )
    response = strict.post("/v1/messages", headers=bearer(token), json=MESSAGE)
    assert response.status_code == 202, response.text


def test_a_token_with_too_few_scopes_is_forbidden_and_stores_nothing(
    client: TestClient, settings: Settings, db: Database[Any], tenant: str
) -> None:
    reader = tenant_headers(settings, tenant, scopes=["messages:read"])
    response = client.post("/v1/messages", headers=reader, json=MESSAGE)
    assert_problem(response, 403, "insufficient-scope")
    assert response.json()["required_scope"] == "messages:write"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert messages_of(db, tenant) == 0
    missing = client.get("/v1/messages/msg_missing", headers=reader)
    assert missing.status_code == 404  # the scope it has lets it through to the route


def test_a_tenant_credential_cannot_reach_the_platform_admin_api(
    client: TestClient, settings: Settings, tenant: str
) -> None:
    # Even a tenant token that claims ``admin`` has only tenant scopes.
    for headers in (
        tenant_headers(settings, tenant),
        tenant_headers(settings, tenant, scopes=["admin"]),
    ):
        for method, path in (("GET", "/v1/admin/tenants"), ("POST", "/v1/admin/tenants")):
            response = client.request(method, path, headers=headers, json={"id": "x", "name": "x"})
            assert_problem(response, 403, "insufficient-scope")


def test_the_platform_credential_has_no_tenant_scopes(
    client: TestClient, settings: Settings
) -> None:
    response = client.post("/v1/messages", headers=admin_headers(settings), json=MESSAGE)
    assert_problem(response, 403, "insufficient-scope")


def test_an_api_key_works_until_revoked_and_rotation_swaps_keys_without_restart(
    client: TestClient, settings: Settings, db: Database[Any]
) -> None:
    tenant = create_tenant(client, settings)
    first = issue_key(client, settings, tenant, ["messages:write", "messages:read"])
    assert (
        client.post("/v1/messages", headers=bearer(first["key"]), json=MESSAGE).status_code == 202
    )

    rotated = client.post(
        f"/v1/admin/tenants/{tenant}/keys/{first['id']}/rotate", headers=admin_headers(settings)
    )
    assert rotated.status_code == 201
    second = rotated.json()
    assert second["rotated_from"] == first["id"] and second["scopes"] == first["scopes"]
    old = client.post("/v1/messages", headers=bearer(first["key"]), json=MESSAGE)
    assert_problem(old, 401, "unauthorized")
    assert old.json()["detail"] == "the API key was revoked"
    assert (
        client.post("/v1/messages", headers=bearer(second["key"]), json=MESSAGE).status_code == 202
    )

    revoked = client.delete(
        f"/v1/admin/tenants/{tenant}/keys/{second['id']}", headers=admin_headers(settings)
    )
    assert revoked.status_code == 204
    assert_problem(
        client.post("/v1/messages", headers=bearer(second["key"]), json=MESSAGE),
        401,
        "unauthorized",
    )
    assert messages_of(db, tenant) == 2


def test_an_api_key_acts_only_in_its_tenant_and_within_its_scopes(
    client: TestClient, settings: Settings, db: Database[Any]
) -> None:
    tenant = create_tenant(client, settings)
    reader = issue_key(client, settings, tenant, ["messages:read"])
    response = client.post("/v1/messages", headers=bearer(reader["key"]), json=MESSAGE)
    assert_problem(response, 403, "insufficient-scope")
    assert messages_of(db, tenant) == 0
    forged = reader["key"][:-4] + ("AAAA" if not reader["key"].endswith("AAAA") else "BBBB")
    assert_problem(client.get("/v1/messages/msg_x", headers=bearer(forged)), 401, "unauthorized")


def test_a_disabled_tenant_is_refused_everywhere_webhooks_included(
    client: TestClient,
    settings: Settings,
    db: Database[Any],
    broker: redis.Redis,
    providers: ProviderAccounts,
) -> None:
    tenant = create_tenant(client, settings)
    key = issue_key(client, settings, tenant, ["messages:write"])
    channel = client.post(
        "/v1/admin/channels",
        headers=tenant_headers(settings, tenant),
        json=providers.own(
            {
                "channel": "slack",
                "account_id": "T" + tenant.upper().replace("-", ""),
                "secrets": {"bot_token": "xoxb-1-" + tenant, "signing_secret": "s3cret"},
            }
        ),
    )
    assert channel.status_code == 201
    set_state(client, settings, tenant, "disabled")
    before = sum(int(broker.llen(q)) for q in ("process", "generate", "deliver", "audit"))

    for headers in (tenant_headers(settings, tenant), bearer(key["key"])):
        assert_problem(
            client.post("/v1/messages", headers=headers, json=MESSAGE), 403, "tenant-disabled"
        )
    webhook = client.post(f"/webhooks/slack/{channel.json()['id']}", json={"type": "event"})
    assert_problem(webhook, 404, "not-found")
    assert messages_of(db, tenant) == 0
    assert sum(int(broker.llen(q)) for q in ("process", "generate", "deliver", "audit")) == before

    set_state(client, settings, tenant, "active")
    assert client.post("/v1/messages", headers=bearer(key["key"]), json=MESSAGE).status_code == 202


def test_failed_authentications_are_limited_per_source(
    db: Database[Any], broker: redis.Redis, settings: Settings, tenant: str
) -> None:
    app = create_app(Settings(auth_failure_burst=3, auth_failure_per_second=0.01))
    attacker, bystander = client_address(), client_address()
    bad_token = "not-a-token-" + secrets.token_hex(8)  # failures are counted per token too
    with (
        TestClient(app, raise_server_exceptions=False, client=attacker) as bad,
        TestClient(app, raise_server_exceptions=False, client=bystander) as good,
    ):
        statuses = [
            bad.get("/v1/messages/msg_x", headers=bearer(f"{bad_token}-{i}")).status_code
            for i in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]
        locked = bad.get("/v1/messages/msg_x", headers=bearer(f"{bad_token}-again"))
        assert_problem(locked, 429, "rate-limited")
        assert locked.json()["limit"] == "auth-failures"
        assert int(locked.headers["retry-after"]) >= 1
        # A valid credential from that address is not refused for the failures made there.
        valid = bad.get("/v1/messages/msg_x", headers=tenant_headers(settings, tenant))
        assert_problem(valid, 404, "not-found")
        # Another address is not affected.
        assert good.get("/v1/messages/msg_x", headers=bearer(f"{bad_token}-0")).status_code == 401


def test_sixty_bad_tokens_then_a_valid_one_from_the_same_address_is_accepted(
    client: TestClient, settings: Settings, db: Database[Any]
) -> None:
    tenant = create_tenant(client, settings)
    key = issue_key(client, settings, tenant, ["messages:write"])
    wrong_key = key["key"][:-4] + ("AAAA" if not key["key"].endswith("AAAA") else "BBBB")
    bad_token = "a-bad-bearer-token-" + secrets.token_hex(8)
    # The default allowance (30), refilled so slowly that the counts below are exact.
    app = create_app(Settings(auth_failure_per_second=0.001))
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as nat:
        statuses = [
            nat.post("/v1/messages", headers=bearer(bad_token), json=MESSAGE).status_code
            for _ in range(60)
        ]
        assert statuses == [401] * 30 + [429] * 30
        for headers in (tenant_headers(settings, tenant), bearer(key["key"])):
            response = nat.post("/v1/messages", headers=headers, json=MESSAGE)
            assert response.status_code == 202, response.text
        # Guessing at another key is still refused there.
        assert nat.post("/v1/messages", headers=bearer(wrong_key), json=MESSAGE).status_code == 429
    assert messages_of(db, tenant) == 2


def test_a_key_id_guessed_at_from_many_addresses_is_throttled_but_its_holder_gets_in(
    client: TestClient, settings: Settings, db: Database[Any]
) -> None:
    tenant = create_tenant(client, settings)
    key = issue_key(client, settings, tenant, ["messages:write"])
    wrong = key["key"][:-4] + ("AAAA" if not key["key"].endswith("AAAA") else "BBBB")
    app = create_app(Settings(auth_failure_burst=3, auth_failure_per_second=0.01))
    statuses = []
    for _ in range(5):  # every guess from an address of its own
        with TestClient(app, raise_server_exceptions=False, client=client_address()) as guesser:
            statuses.append(
                guesser.post("/v1/messages", headers=bearer(wrong), json=MESSAGE).status_code
            )
    assert statuses == [401, 401, 401, 429, 429]
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as other:
        refused = other.post("/v1/messages", headers=bearer(wrong), json=MESSAGE)
        assert_problem(refused, 429, "rate-limited")
        assert refused.json()["limit"] == "credential-auth-failures"
        assert refused.json()["detail"] == "too many failed authentications with this credential"
        holder = other.post("/v1/messages", headers=bearer(key["key"]), json=MESSAGE)
        assert holder.status_code == 202, holder.text
    assert messages_of(db, tenant) == 1


def test_no_response_or_log_line_carries_a_key_or_token(
    client: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = create_tenant(client, settings)
    issued = issue_key(client, settings, tenant, ["messages:write"])
    plaintext, secret = issued["key"], key_secret(issued["key"])
    token = tenant_headers(settings, tenant)["Authorization"].split()[1]
    bodies = [
        client.post("/v1/messages", headers=bearer(plaintext), json=MESSAGE).text,
        client.post("/v1/messages", headers=bearer(token), json=MESSAGE).text,
        client.get(f"/v1/admin/tenants/{tenant}/keys", headers=admin_headers(settings)).text,
        client.post("/v1/messages", headers=bearer(plaintext + "x"), json=MESSAGE).text,
        client.post("/v1/messages", headers=bearer(token + "x"), json=MESSAGE).text,
    ]
    client.delete(
        f"/v1/admin/tenants/{tenant}/keys/{issued['id']}", headers=admin_headers(settings)
    )
    bodies.append(client.post("/v1/messages", headers=bearer(plaintext), json=MESSAGE).text)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    jwt_secret = settings.require_jwt_secret().decode()
    for text in (*bodies, logged):
        for needle in (plaintext, secret, token, jwt_secret):
            assert needle not in text
    assert "secret_sha256" not in bodies[2]


def test_a_jwks_that_cannot_be_fetched_fails_closed_with_503(
    jwks: JwksServer, db: Database[Any], broker: redis.Redis, tenant: str
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/jwks.json"
    app = create_app(Settings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_jwks_url=closed))
    token = jwt.encode(claims(tenant), jwks.rsa, algorithm="RS256", headers={"kid": "r1"})
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as client:
        response = client.post("/v1/messages", headers=bearer(token), json=MESSAGE)
    assert_problem(response, 503, "unavailable")
    assert int(response.headers["retry-after"]) >= 1
    assert messages_of(db, tenant) == 0


def test_an_address_that_used_up_its_failures_on_a_key_is_refused_before_the_key_is_looked_up(
    client: TestClient, settings: Settings, db: Database[Any], broker: redis.Redis
) -> None:
    tenant = create_tenant(client, settings)
    good = issue_key(client, settings, tenant, ["messages:write"])
    wrong = good["key"][:-4] + ("AAAA" if not good["key"].endswith("AAAA") else "BBBB")
    app = create_app(Settings(auth_failure_burst=2, auth_failure_per_second=0.01))
    with TestClient(app, raise_server_exceptions=False, client=client_address()) as locked:
        statuses = [
            locked.post("/v1/messages", headers=bearer(wrong), json=MESSAGE).status_code
            for _ in range(4)
        ]
        assert statuses == [401, 401, 429, 429]
        refused = locked.post("/v1/messages", headers=bearer(good["key"]), json=MESSAGE)
        assert_problem(refused, 429, "rate-limited")
        assert refused.json()["limit"] == "auth-failures"
    assert messages_of(db, tenant) == 0


def test_disabling_a_tenant_reaches_a_running_ingress_without_a_restart(
    client: TestClient, settings: Settings, db: Database[Any], broker: redis.Redis
) -> None:
    tenant = create_tenant(client, settings)
    key = issue_key(client, settings, tenant, ["messages:read"])
    # An ingress with the default tenant cache: it has read the tenant as active.
    with TestClient(create_app(), raise_server_exceptions=False, client=client_address()) as other:
        assert other.get("/v1/messages/msg_x", headers=bearer(key["key"])).status_code == 404
        set_state(client, settings, tenant, "disabled")
        deadline = time.monotonic() + 10
        while (
            status := other.get("/v1/messages/msg_x", headers=bearer(key["key"])).status_code
        ) != 403:
            assert status == 404
            assert time.monotonic() < deadline, "the running ingress never saw the tenant disabled"
            time.sleep(0.1)


def test_a_revoked_jwt_is_refused_and_no_other_token_is(
    client: TestClient, settings: Settings, db: Database[Any]
) -> None:
    tenant, other_tenant = create_tenant(client, settings), create_tenant(client, settings)
    secret = settings.require_jwt_secret()
    stolen = mint_token(secret, tenant, "svc", 600, token_id="jti_stolen")
    sibling = mint_token(secret, tenant, "svc", 600, token_id="jti_sibling")
    same_jti_elsewhere = mint_token(secret, other_tenant, "svc", 600, token_id="jti_stolen")
    assert client.post("/v1/messages", headers=bearer(stolen), json=MESSAGE).status_code == 202

    expires_at = jwt.decode(stolen, options={"verify_signature": False})["exp"]
    revoked = client.post(
        f"/v1/admin/tenants/{tenant}/revoked-tokens",
        headers=admin_headers(settings),
        json={"jti": "jti_stolen", "expires_at": expires_at},
    )
    assert revoked.status_code == 204
    refused = client.post("/v1/messages", headers=bearer(stolen), json=MESSAGE)
    assert_problem(refused, 401, "unauthorized")
    assert refused.json()["detail"] == "the token was revoked"
    for token in (sibling, same_jti_elsewhere):
        assert client.post("/v1/messages", headers=bearer(token), json=MESSAGE).status_code == 202
    assert messages_of(db, tenant) == 2


def test_parley_token_gives_every_token_an_id_to_revoke(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cli.main import main

    assert main(["token", "--tenant", "t-jti"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert claims["jti"].startswith("jti_")
