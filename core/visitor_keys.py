"""The proofs a browser shows to be a web visitor again, checked over raw bytes in constant time.

An anonymous visitor gets a ``visitor_key`` with its id: an HMAC over the widget and visitor
ids with a key derived from ``PARLEY_JWT_SECRET`` (never the secret itself), so nobody can claim
another visitor's id. A visitor the tenant's backend vouches for shows ``user_hash``, the hex
HMAC-SHA256 of its user id under the widget's identity secret.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac

_KEY_LABEL = b"parley-visitor-key-v1"


def _mac(secret: bytes, widget_id: str, visitor_id: str) -> bytes:
    key = hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(key, f"{widget_id}\x1f{visitor_id}".encode(), hashlib.sha256).digest()


def anonymous_key(secret: bytes, widget_id: str, visitor_id: str) -> str:
    """The ``visitor_key`` of an anonymous visitor of a widget."""
    return _mac(secret, widget_id, visitor_id).hex()


def _hex_equals(expected: bytes, shown: str) -> bool:
    try:
        given = bytes.fromhex(shown)
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(expected, given)


def anonymous_key_matches(secret: bytes, widget_id: str, visitor_id: str, shown: str) -> bool:
    return _hex_equals(_mac(secret, widget_id, visitor_id), shown)


def _user_mac(identity_secret: bytes, user_id: str) -> bytes:
    return hmac.new(identity_secret, user_id.encode(), hashlib.sha256).digest()


def user_hash(identity_secret: bytes, user_id: str) -> str:
    """What the tenant's backend computes for its user (tests and examples)."""
    return _user_mac(identity_secret, user_id).hex()


def user_hash_matches(identity_secret: bytes, user_id: str, shown: str) -> bool:
    return _hex_equals(_user_mac(identity_secret, user_id), shown)
