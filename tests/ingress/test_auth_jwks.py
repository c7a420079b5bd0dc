"""The JWKS key cache over a real HTTP server: unknown key ids refetch at most once per
interval, no thread waits on another's fetch, a failed fetch keeps fresh keys, and an expired
set that cannot be renewed fails closed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from testenv import free_port

from core.errors import InvalidToken, KeysUnavailable
from core.jwks import JwksKeys
from core.jwt_verifier import JwtVerifier
from tests.services.security_hub.hub import FakeClock

REFETCH = 10.0
LIFESPAN = 300.0


class KeySetServer:
    """Serves a JWKS whose keys a test changes; answers can be held back or failed."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.failing = False
        self.held = threading.Event()  # set: requests wait for ``release``
        self.release = threading.Event()
        self.arrived = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                outer.arrived.set()
                if outer.held.is_set():
                    outer.release.wait(30)
                status = 503 if outer.failing else 200
                body = json.dumps({"keys": list(outer.keys.values())}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add_key(self, kid: str) -> None:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        self.keys[kid] = {**jwk, "kid": kid, "use": "sig"}


@pytest.fixture
def served() -> Iterator[KeySetServer]:
    server = KeySetServer()
    server.add_key("k1")
    server.thread.start()
    yield server
    server.release.set()
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keys(served: KeySetServer, clock: FakeClock) -> JwksKeys:
    return JwksKeys(served.url, LIFESPAN, refetch_seconds=REFETCH, timeout_seconds=5, clock=clock)


def test_unknown_key_ids_refetch_the_set_at_most_once_per_interval(
    keys: JwksKeys, served: KeySetServer, clock: FakeClock
) -> None:
    assert keys.get("k1") is not None
    for index in range(50):
        assert keys.get(f"forged-{index}") is None
    assert served.requests == 1  # the first fetch started the interval

    clock.advance(REFETCH)
    assert [keys.get(f"forged-again-{i}") for i in range(50)] == [None] * 50
    assert served.requests == 2


def test_a_rotated_key_is_found_by_the_next_allowed_refetch(
    keys: JwksKeys, served: KeySetServer, clock: FakeClock
) -> None:
    assert keys.get("k1") is not None
    served.add_key("k2")
    clock.advance(REFETCH)
    found = keys.get("k2")
    assert found is not None and found.key_id == "k2"
    assert served.requests == 2


def test_no_thread_waits_while_another_refetches(
    keys: JwksKeys, served: KeySetServer, clock: FakeClock
) -> None:
    assert keys.get("k1") is not None
    clock.advance(REFETCH)
    served.held.set()
    served.arrived.clear()
    fetching = threading.Thread(target=keys.get, args=("forged",))
    fetching.start()
    assert served.arrived.wait(10)  # that thread's refetch is now held at the server

    # Meanwhile every other caller is answered from the cache, at once.
    assert keys.get("k1") is not None
    assert keys.get("forged-too") is None
    served.release.set()
    fetching.join(10)
    assert served.requests == 2


def test_a_failed_refetch_keeps_the_fresh_keys(
    keys: JwksKeys, served: KeySetServer, clock: FakeClock
) -> None:
    assert keys.get("k1") is not None
    served.failing = True
    clock.advance(REFETCH)
    assert keys.get("forged") is None  # its refetch failed
    assert keys.get("k1") is not None
    assert served.requests == 2


def test_an_expired_set_that_cannot_be_renewed_fails_closed_until_a_fetch_succeeds(
    keys: JwksKeys, served: KeySetServer, clock: FakeClock
) -> None:
    assert keys.get("k1") is not None
    served.failing = True
    clock.advance(LIFESPAN)
    with pytest.raises(KeysUnavailable):
        keys.get("k1")
    with pytest.raises(KeysUnavailable):  # no new attempt within the interval
        keys.get("k1")
    assert served.requests == 2
    served.failing = False
    clock.advance(REFETCH)
    assert keys.get("k1") is not None


def test_while_one_request_fetches_the_keys_the_others_are_answered_at_once(
    served: KeySetServer,
) -> None:
    verifier = JwtVerifier(b"s" * 32, 30, jwks_url=served.url)
    signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def token(kid: str) -> str:
        claims = {"tenant": "acme", "sub": "svc", "exp": int(time.time()) + 300}
        return jwt.encode(claims, signer, algorithm="RS256", headers={"kid": kid})

    served.held.set()
    fetching = threading.Thread(target=_verify_quietly, args=(verifier, token("k1")))
    fetching.start()
    assert served.arrived.wait(10)  # its fetch is held at the server
    answered = threading.Event()
    refusals: list[str] = []

    def other() -> None:
        refusals.append(_verify_quietly(verifier, token("forged")))
        answered.set()

    threading.Thread(target=other, daemon=True).start()
    assert answered.wait(10), "a second request waited on the first one's fetch"
    served.release.set()
    fetching.join(10)
    assert refusals == ["keys_unavailable"]
    assert served.requests == 1


def _verify_quietly(verifier: JwtVerifier, token: str) -> str:
    try:
        verifier.verify(token)
    except InvalidToken as exc:
        return exc.code
    return "valid"
