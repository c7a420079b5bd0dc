"""``parley consume <handler>``: the process of one consumer, its clients built at start-up
and closed at shutdown."""

from __future__ import annotations

import logging
from collections.abc import Callable

from consumers.dead_letters import DeadLetterTopic
from consumers.registry import handler_class, route
from consumers.runtime import EventConsumer
from core.settings import Settings
from storage.event_ledger import ProcessedEvents
from storage.mongo import connect, database, ensure_indexes

log = logging.getLogger("parley.consumers")


def group_id(name: str, settings: Settings) -> str:
    return f"{settings.consumer_group_prefix}{name}"


def consume(name: str, settings: Settings, stopping: Callable[[], bool]) -> None:
    """Run handler ``name``'s consumer until ``stopping()``."""
    cls = handler_class(name)
    handler_route = route(name, settings)
    client = connect(settings)
    dead_letters = DeadLetterTopic(settings.kafka_bootstrap, settings.event_dlq_topic)
    try:
        db = database(client, settings)
        ensure_indexes(db)
        handler = cls(db)
        consumer = EventConsumer(
            handler,
            handler_route,
            ProcessedEvents(db, handler.ledger),
            dead_letters,
            settings.kafka_bootstrap,
            group_id(name, settings),
        )
        log.info(
            "consumer %s (group %s) takes %s",
            name,
            group_id(name, settings),
            ", ".join(handler_route.patterns),
        )
        consumer.run(stopping)
    finally:
        dead_letters.close()
        client.close()
