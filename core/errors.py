"""Parley's shared error tree; every package raises subclasses of these.

ParleyError
├── ConfigurationError      settings missing or invalid (fail fast at start-up)
├── NotFound                a record that does not exist for this tenant
├── Conflict                a request that collides with existing state
├── InvalidToken            a bearer JWT that is not acceptable (core.jwt_verifier)
├── AddressRefused          a host that is not public, or does not resolve (core.addresses)
├── SignatureInvalid        a webhook signature that does not verify (core.webhook_signatures)
└── DependencyError         a service we call failed
    ├── TransientError      worth retrying (timeouts, unavailable, 5xx)
    │   └── KeysUnavailable a JWKS that cannot be fetched, with no usable copy (core.jwks)
    └── PermanentError      retrying cannot help (bad request, rejected credentials)
"""

from __future__ import annotations


class ParleyError(Exception):
    """Base of every error Parley raises on purpose."""


class ConfigurationError(ParleyError):
    """A setting is missing or invalid."""


class NotFound(ParleyError):
    """The record does not exist, or belongs to another tenant (never say which)."""


class Conflict(ParleyError):
    """The request collides with state that already exists."""


class InvalidToken(ParleyError):
    """The token is not acceptable; ``reason`` is safe to show (it never quotes the token) and
    ``code`` names it for machines (the Security Hub's ``reason``)."""

    def __init__(self, reason: str, code: str = "malformed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class DependencyError(ParleyError):
    """A service Parley depends on failed."""


class TransientError(DependencyError):
    """A failure that may succeed when retried."""


class PermanentError(DependencyError):
    """A failure that will not succeed however often it is retried."""


class KeysUnavailable(TransientError):
    """The key set could not be fetched and no usable copy is cached."""
