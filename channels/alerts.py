"""What the alert senders (``alert_email``, ``alert_slack``, ``alert_sms``) share: the alert
they send and the errors they raise.

    AlertNotSent (TransientError)      the server could not be reached, or answered 429/5xx:
                                       the incident is tried again
    AlertRefused (PermanentError)      the server refused the alert for good (a 4xx, a
                                       rejected recipient): trying again cannot help
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from core.errors import PermanentError, TransientError


class AlertNotSent(TransientError):
    """The alert did not go out this time."""


class AlertRefused(PermanentError):
    """The alert's server refused it for good."""


@dataclass(frozen=True)
class Alert:
    """One alert about one incident: a one-line ``title`` and a few lines of ``text``."""

    title: str
    text: str


def masked_url(url: str) -> str:
    """``url`` with only its scheme and host: an incoming-webhook URL's path is its secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"
