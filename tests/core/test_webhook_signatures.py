"""Standard Webhooks signatures, checked against the specification's published test vector."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from core.webhook_signatures import (
    SECRET_BYTES,
    SignatureInvalid,
    headers,
    new_secret,
    sign,
    verify,
)

# The vector of the standard-webhooks reference libraries (libraries/python/tests).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specifications_vector_signs_to_its_published_signature() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_the_vector_verifies_and_a_changed_body_does_not() -> None:
    received = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    verify(VECTOR_SECRET, received, VECTOR_BODY, now=VECTOR_TIMESTAMP)
    with pytest.raises(SignatureInvalid):
        verify(VECTOR_SECRET, received, VECTOR_BODY + b" ", now=VECTOR_TIMESTAMP)


def test_one_matching_signature_among_several_verifies_as_during_a_rotation() -> None:
    listed = " ".join(
        [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            VECTOR_SIGNATURE,
        ]
    )
    received = {
        "Webhook-Id": VECTOR_ID,
        "Webhook-Timestamp": str(VECTOR_TIMESTAMP),
        "Webhook-Signature": listed,
    }
    verify(VECTOR_SECRET, received, VECTOR_BODY, now=VECTOR_TIMESTAMP)


def test_headers_carry_one_signature_per_secret_each_verifying_alone() -> None:
    old, new = new_secret(), new_secret()
    sent = headers([new, old], "msg_1", VECTOR_TIMESTAMP, b"{}")
    assert sent["webhook-id"] == "msg_1"
    assert sent["webhook-timestamp"] == str(VECTOR_TIMESTAMP)
    assert len(sent["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        verify(secret, sent, b"{}", now=VECTOR_TIMESTAMP)
    with pytest.raises(SignatureInvalid):
        verify(new_secret(), sent, b"{}", now=VECTOR_TIMESTAMP)


def test_a_signature_is_the_base64_hmac_sha256_of_id_timestamp_and_body() -> None:
    secret = new_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    assert len(key) == SECRET_BYTES
    digest = hmac.new(key, b"msg_2.1700000000.{}", hashlib.sha256).digest()
    assert sign(secret, "msg_2", 1700000000, b"{}") == "v1," + base64.b64encode(digest).decode()


def test_a_timestamp_outside_five_minutes_is_refused() -> None:
    received = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    for now in (VECTOR_TIMESTAMP - 301, VECTOR_TIMESTAMP + 301):
        with pytest.raises(SignatureInvalid, match="tolerance"):
            verify(VECTOR_SECRET, received, VECTOR_BODY, now=now)


def test_missing_headers_are_refused() -> None:
    with pytest.raises(SignatureInvalid, match="missing"):
        verify(VECTOR_SECRET, {"webhook-id": VECTOR_ID}, VECTOR_BODY, now=VECTOR_TIMESTAMP)
