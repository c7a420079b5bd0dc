"""Parley's shared error tree; every package raises subclasses of these.

ParleyError
├── ConfigurationError      settings missing or invalid (fail fast at start-up)
├── NotFound                a record that does not exist for this tenant
├── Conflict                a request that collides with existing state
└── DependencyError         a service we call failed
    ├── TransientError      worth retrying (timeouts, unavailable, 5xx)
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


class DependencyError(ParleyError):
    """A service Parley depends on failed."""


class TransientError(DependencyError):
    """A failure that may succeed when retried."""


class PermanentError(DependencyError):
    """A failure that will not succeed however often it is retried."""
