"""What a notification rule's condition makes of one event: nothing, or an incident.

Each condition kind names the events it reads (``EVENTS_OF``); windowed kinds note the event in
their window (storage/event_windows.py) before they look, so an event counts once however often
it is read. docs/notifications.md states each condition's exact meaning.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channels.registry import WEBHOOK_ADAPTERS
from consumers.handler import Event
from storage.event_windows import EventWindows
from storage.notification_rules import (
    CREDENTIALS_REFUSED,
    DEAD_LETTERS_ABOVE,
    DELIVERY_RATE_BELOW,
    ENDPOINT_DISABLED,
)

SYSTEM_ERROR = "system.error"
MESSAGE_SENT = "chat.message.sent"
MESSAGE_DELIVERED = "chat.message.delivered"
API_CALLED = "integration.api.called"
REFUSED_STATUSES = frozenset({401, 403})
EVENTS_OF: dict[str, tuple[str, ...]] = {
    DEAD_LETTERS_ABOVE: (SYSTEM_ERROR,),
    DELIVERY_RATE_BELOW: (MESSAGE_SENT, MESSAGE_DELIVERED),
    CREDENTIALS_REFUSED: (API_CALLED,),
    ENDPOINT_DISABLED: (SYSTEM_ERROR,),
}


@dataclass(frozen=True)
class Incident:
    """The condition holds. ``subject`` tells incidents of one rule apart (a channel, an
    endpoint; empty for the tenant as a whole); ``summary`` is the alert's text."""

    subject: str
    summary: str


def kinds_reading(event_type: str) -> tuple[str, ...]:
    return tuple(kind for kind, types in EVENTS_OF.items() if event_type in types)


def evaluate(rule: dict[str, Any], event: Event, windows: EventWindows) -> Incident | None:
    condition = rule["condition"]
    kind, data = condition["kind"], event.get("data") or {}
    if kind == DEAD_LETTERS_ABOVE:
        return _dead_letters(rule, event, data, windows)
    if kind == DELIVERY_RATE_BELOW:
        return _delivery_rate(rule, event, windows)
    if kind == CREDENTIALS_REFUSED:
        return _credentials_refused(condition, event, data)
    disabled = event["type"] == SYSTEM_ERROR and data.get("kind") == "endpoint_disabled"
    if kind == ENDPOINT_DISABLED and disabled:
        endpoint = data.get("subscription_id") or "a webhook endpoint"
        reason = data.get("reason") or data.get("error") or "it kept failing"
        return Incident(str(endpoint), f"Webhook endpoint {endpoint} was disabled: {reason}.")
    return None


def _dead_letters(
    rule: dict[str, Any], event: Event, data: dict[str, Any], windows: EventWindows
) -> Incident | None:
    if event["type"] != SYSTEM_ERROR or data.get("kind") != "dead_letter":
        return None
    condition, tenant = rule["condition"], str(event["tenantid"])
    window = condition["window_seconds"]
    windows.add(tenant, rule["_id"], "dead_letter", str(event["id"]), _at(event), window)
    seen = windows.count(tenant, rule["_id"], "dead_letter", window)
    if seen <= condition["count"]:
        return None
    return Incident(
        "",
        f"{seen} messages were dead-lettered in the last {_span(window)}"
        f" (the rule alerts above {condition['count']}).",
    )


def _delivery_rate(rule: dict[str, Any], event: Event, windows: EventWindows) -> Incident | None:
    condition, tenant = rule["condition"], str(event["tenantid"])
    window = condition["window_seconds"]
    series = "sent" if event["type"] == MESSAGE_SENT else "delivered"
    windows.add(tenant, rule["_id"], series, str(event["id"]), _at(event), window)
    sent = windows.count(tenant, rule["_id"], "sent", window)
    if sent < condition["min_sent"]:
        return None
    delivered = min(windows.count(tenant, rule["_id"], "delivered", window), sent)
    rate = 100.0 * delivered / sent
    if rate >= condition["percent"]:
        return None
    return Incident(
        "",
        f"Only {delivered} of {sent} replies sent in the last {_span(window)} were delivered"
        f" ({rate:.0f} %, the rule alerts below {condition['percent']:g} %).",
    )


def _credentials_refused(
    condition: dict[str, Any], event: Event, data: dict[str, Any]
) -> Incident | None:
    target, status = data.get("target"), data.get("status")
    if status not in REFUSED_STATUSES or target not in WEBHOOK_ADAPTERS:
        return None  # the engine's or a tenant endpoint's refusals are not a provider's
    if condition.get("channel") not in (None, target):
        return None
    operation = data.get("operation") or "a call"
    return Incident(
        str(target),
        f"{target} refused Parley's credentials (HTTP {status} to {operation}): check the"
        " channel's secrets.",
    )


def _at(event: Event) -> float:
    """The event's time in epoch seconds (now, if it has none Python can read)."""
    try:
        return datetime.fromisoformat(str(event.get("time"))).timestamp()
    except ValueError:
        return time.time()


def _span(seconds: int) -> str:
    return f"{seconds // 60} minutes" if seconds % 60 == 0 else f"{seconds} seconds"
