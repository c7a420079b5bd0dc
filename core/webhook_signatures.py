"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``.

A secret is shown as ``whsec_`` + base64 of its key (32 random bytes; the specification asks
for 24 to 64). The ``webhook-signature`` header lists one signature per secret, space-separated,
so a receiver that still holds the previous secret keeps verifying during a rotation.
``verify`` is what a receiver runs (the tenants' docs show it; the tests check deliveries with
it): every ``v1`` signature is compared in constant time, and the timestamp must be recent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence

from core.errors import ParleyError

SECRET_PREFIX = "whsec_"  # noqa: S105  (the prefix, not a secret)
SECRET_BYTES = 32
VERSION = "v1"
TOLERANCE_SECONDS = 5 * 60


class SignatureInvalid(ParleyError):
    """The headers are missing, too old or too new, or no signature matches."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,…`` signature of ``body`` sent as ``webhook_id`` at ``timestamp``."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode()}"


def headers(
    secrets_: Sequence[str], webhook_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret in ``secrets_``."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, webhook_id, timestamp, body) for s in secrets_),
    }


def verify(
    secret: str,
    received: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise ``SignatureInvalid`` unless one ``v1`` signature in ``received`` is ``secret``'s."""
    lowered = {name.lower(): value for name, value in received.items()}
    webhook_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    listed = lowered.get("webhook-signature", "")
    if not (webhook_id and stamp.isdigit() and listed):
        raise SignatureInvalid("the webhook headers are missing or malformed")
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > tolerance:
        raise SignatureInvalid("the webhook timestamp is outside the tolerance")
    expected = sign(secret, webhook_id, int(stamp), body).encode()
    found = False
    for candidate in listed.split(" "):
        if candidate.startswith(f"{VERSION},"):
            found |= hmac.compare_digest(expected, candidate.encode())  # every one compared
    if not found:
        raise SignatureInvalid("no signature matches")
