"""The ``system.*`` and ``integration.*`` events (docs/event-catalogue.md): what the platform
itself went through, as opposed to a conversation's facts (core/chat_events.py).

A system event is keyed by its tenant (``*``, the platform, for a dependency's health or the
stages' performance), so one tenant's events stay in order on one partition. Events that are a
fact of a stored document (a dead letter) get a deterministic id; the others (a call, a login)
are one-off observations and get a fresh id, fixed when they are made, so a republished copy is
still dropped by consumers as a duplicate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.cloudevents import CloudEvent
from core.envelopes import ChannelEvent, ChannelEventKind
from core.event_types import (
    API_CALLED,
    AUTH,
    CHANNEL_INSTALLED,
    CHANNEL_MEMBERS_CHANGED,
    CHANNEL_UNINSTALLED,
    MEETING_ENDED,
    MEETING_STARTED,
    SYSTEM_ERROR,
    SYSTEM_HEALTH,
    SYSTEM_PERFORMANCE,
    WEBHOOK_RECEIVED,
)
from core.ids import new_id
from core.scopes import PLATFORM_TENANT
from core.timeutil import utcnow

SOURCE = "/parley/system"
INTEGRATION_SOURCE = "/parley/integration"

# system.error kinds
DEAD_LETTER, POISON, BREAKER_OPEN, ENDPOINT_DISABLED = (
    "dead_letter",
    "poison",
    "breaker_open",
    "endpoint_disabled",
)
# The fields of every system.error's data, None where the kind has no such thing.
_ERROR_FIELDS = (
    "reason",
    "stage",
    "message_id",
    "conversation_id",
    "channel",
    "error",
    "subscription_id",
    "url",
    "target",
)


def _event(
    kind: str,
    source: str,
    subject: str,
    tenant_id: str,
    data: dict[str, Any],
    event_id: str | None = None,
    at: datetime | None = None,
) -> CloudEvent:
    return CloudEvent(
        id=event_id or new_id("evt"),
        type=kind,
        source=source,
        subject=subject,
        time=at or utcnow(),
        tenant_id=tenant_id,
        partition_key=tenant_id,
        data=data,
    )


def system_error(
    kind: str, tenant_id: str, subject: str, event_id: str | None = None, **fields: Any
) -> CloudEvent:
    """``kind``: DEAD_LETTER, POISON, BREAKER_OPEN or ENDPOINT_DISABLED; ``fields`` among
    ``_ERROR_FIELDS`` (an unknown one is a programming error)."""
    unknown = set(fields) - set(_ERROR_FIELDS)
    if unknown:
        raise TypeError(f"system.error has no field {sorted(unknown)}")
    data = {"kind": kind, **{name: fields.get(name) for name in _ERROR_FIELDS}}
    return _event(SYSTEM_ERROR, SOURCE, subject, tenant_id, data, event_id)


def dead_letter_error(dead_letter: dict[str, Any], error: str) -> CloudEvent:
    """A turn dead-lettered (or poisoned): one event per time it is, so a replayed turn that
    fails again is told again (the dead letter's ``replays`` counts the times)."""
    reason = dead_letter["last_error"]["classification"]
    return system_error(
        POISON if reason == "poison" else DEAD_LETTER,
        dead_letter["tenant_id"],
        dead_letter["_id"],
        event_id=f"{dead_letter['_id']}:error:{dead_letter.get('replays', 0)}",
        reason=reason,
        stage=dead_letter["stage"],
        message_id=dead_letter["message_id"],
        conversation_id=dead_letter["conversation_id"],
        channel=dead_letter["channel"],
        error=error[:500],
    )


def system_health(component: str, status: str, reporter: str, detail: str) -> CloudEvent:
    """A dependency went ``down`` or came back ``up``, as ``reporter`` saw it."""
    data = {"component": component, "status": status, "reporter": reporter, "detail": detail}
    return _event(SYSTEM_HEALTH, SOURCE, component, PLATFORM_TENANT, data)


def system_performance(
    window_seconds: int, reporter: str, stages: dict[str, dict[str, Any]]
) -> CloudEvent:
    """One worker process's window: per stage, tasks run, p50/p95 milliseconds, failures.
    The stages are a list, each naming its stage: a stage's name (``parley.process``) holds
    dots, which a MongoDB-wire store refuses as a key wherever a consumer keeps the event."""
    listed = [{"stage": stage, **figures} for stage, figures in sorted(stages.items())]
    data = {"window_seconds": window_seconds, "reporter": reporter, "stages": listed}
    return _event(SYSTEM_PERFORMANCE, SOURCE, "stages", PLATFORM_TENANT, data)


def api_called(
    tenant_id: str,
    target: str,
    operation: str,
    status: int | None,
    ok: bool,
    latency_ms: float,
    *,
    channel: str | None = None,
    message_id: str | None = None,
) -> CloudEvent:
    """One outbound call to a provider, the engine or a webhook endpoint: ``status`` is the HTTP
    status (or the gRPC code's number), None when no answer came."""
    data = {
        "target": target,
        "operation": operation,
        "status": status,
        "outcome": "ok" if ok else "error",
        "latency_ms": round(latency_ms, 3),
        "channel": channel,
        "message_id": message_id,
    }
    return _event(API_CALLED, INTEGRATION_SOURCE, target, tenant_id, data)


def auth_event(
    tenant_id: str, credential: str, success: bool, route: str, reason: str | None = None
) -> CloudEvent:
    """An authentication's outcome by credential kind, never the credential; a failure whose
    tenant is not known (a bad key names none) is the platform's."""
    data = {
        "credential": credential,
        "outcome": "success" if success else "failure",
        "reason": reason,
        "route": route,
    }
    return _event(AUTH, INTEGRATION_SOURCE, credential, tenant_id, data)


def webhook_received(
    tenant_id: str, channel: str, config_id: str, provider_event: str
) -> CloudEvent:
    """A provider webhook that passed its signature check; none of its body, which may carry
    the provider's tokens and the users' messages (those are chat events)."""
    data = {
        "channel": channel,
        "channel_config_id": config_id,
        "provider_event": provider_event,
        "verified": True,
    }
    return _event(WEBHOOK_RECEIVED, INTEGRATION_SOURCE, channel, tenant_id, data)


LIFECYCLE_TYPES = {
    ChannelEventKind.INSTALLED: CHANNEL_INSTALLED,
    ChannelEventKind.UNINSTALLED: CHANNEL_UNINSTALLED,
    ChannelEventKind.MEMBERS_CHANGED: CHANNEL_MEMBERS_CHANGED,
    ChannelEventKind.MEETING_STARTED: MEETING_STARTED,
    ChannelEventKind.MEETING_ENDED: MEETING_ENDED,
}


def channel_lifecycle(
    tenant_id: str, channel: str, config_id: str, event: ChannelEvent
) -> CloudEvent:
    """A change to the bot's place on a provider (installed, removed, members, meetings). Its
    id is the provider's event's, so a redelivered activity is the same event; no member is
    named, only counted."""
    data = {
        "channel": channel,
        "channel_config_id": config_id,
        "conversation_id": event.conversation_id,
        **dict(event.detail),
    }
    subject = event.conversation_id or config_id
    return _event(
        LIFECYCLE_TYPES[event.kind],
        INTEGRATION_SOURCE,
        subject,
        tenant_id,
        data,
        event_id=f"{config_id}:{event.event_id}",
        at=event.at,
    )
