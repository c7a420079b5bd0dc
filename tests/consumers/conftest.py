"""The consumer tests' fixtures (their helpers are in consumer_kit.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from consumer_kit import RunningConsumer, Topics

from consumers.dead_letters import DeadLetterTopic
from consumers.handler import Handler
from consumers.router import Route
from consumers.runtime import EventConsumer
from core.settings import Settings
from storage.event_ledger import ProcessedEvents


@pytest.fixture
def topics(settings: Settings) -> Topics:
    return Topics(settings.kafka_bootstrap)


@pytest.fixture
def run_consumer(
    topics: Topics, settings: Settings, db: Any
) -> Iterator[Callable[[Handler, Route], RunningConsumer]]:
    running: list[tuple[RunningConsumer, DeadLetterTopic]] = []

    def start(handler: Handler, route: Route) -> RunningConsumer:
        dead_letters = DeadLetterTopic(settings.kafka_bootstrap, topics.dlq)
        consumer = EventConsumer(
            handler,
            route,
            ProcessedEvents(db, handler.ledger),
            dead_letters,
            settings.kafka_bootstrap,
            topics.group + handler.name,
        )
        run = RunningConsumer(consumer)
        running.append((run, dead_letters))
        return run

    yield start
    for run, dead_letters in running:
        run.stop()
        dead_letters.close()
