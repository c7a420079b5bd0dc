"""The devstack's one error: a local service could not be installed, started or stopped."""

from __future__ import annotations

from core.errors import ParleyError


class DevstackError(ParleyError):
    """A local service failed to install, start, answer or stop; the message ends with its log."""
