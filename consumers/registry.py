"""The explicit registry of event handlers. A handler's name and event patterns live on its
class, written once; the consumer, ``parley run`` and the dead-letter replay look them up here."""

from __future__ import annotations

from consumers.analytics import Analytics
from consumers.audit_trail import AuditTrail
from consumers.errors import UnknownHandler
from consumers.handler import HandlerClass
from consumers.notifications import Notifications
from consumers.router import Route
from consumers.webhooks import Webhooks
from core.settings import Settings

# Add a handler here: a class meeting consumers.handler.Handler, built from a database.
HANDLERS: dict[str, HandlerClass] = {
    cls.name: cls for cls in (AuditTrail, Webhooks, Notifications, Analytics)
}


def handler_class(name: str) -> HandlerClass:
    try:
        return HANDLERS[name]
    except KeyError:
        known = ", ".join(sorted(HANDLERS))
        raise UnknownHandler(f"no event handler {name!r} (known: {known})") from None


def route(name: str, settings: Settings) -> Route:
    """The handler's event patterns: ``PARLEY_CONSUMER_EVENTS``'s for it, else its own."""
    patterns = settings.consumer_events.get(name) or handler_class(name).events
    return Route(tuple(patterns))
