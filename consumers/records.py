"""Reading a consumed Kafka record: its headers, its type (from ``ce_type``), its event."""

from __future__ import annotations

import json

from confluent_kafka import Message

from consumers.handler import Event


class NotAnEvent(ValueError):
    """A record whose body is not a structured CloudEvent with an id."""


def headers_of(msg: Message) -> dict[str, bytes]:
    headers = msg.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return {
        key: value.encode() if isinstance(value, str) else value
        for key, value in pairs
        if value is not None
    }


def event_type(msg: Message) -> str | None:
    """The record's ``ce_type`` header, read without touching its body."""
    value = headers_of(msg).get("ce_type")
    return value.decode(errors="replace") if value is not None else None


def parse(value: bytes | None) -> Event:
    try:
        event = json.loads(value or b"")
    except ValueError as exc:
        raise NotAnEvent(f"not JSON: {exc}") from None
    if not isinstance(event, dict) or not event.get("id"):
        raise NotAnEvent("not a CloudEvent with an id")
    return event
