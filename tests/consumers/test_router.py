"""A handler takes the event types its patterns name, and the consumer skips the others by
their ``ce_type`` header alone: no body parsed, nothing applied or parked, the offset moved on."""

from __future__ import annotations

from typing import Any

import pytest
from consumer_kit import Topics, event, poll_until
from counting_handler import CountingHandler

from consumers.dead_letters import read_parked
from consumers.registry import HANDLERS, route
from consumers.router import Route
from core.errors import ConfigurationError
from core.settings import Settings
from storage.kafka_producer import EventPublisher


def test_a_route_takes_the_types_its_globs_match() -> None:
    taken = Route(("chat.message.*", "system.health"))
    assert taken.takes("chat.message.sent")
    assert taken.takes("system.health")
    assert not taken.takes("chat.conversation.started")
    assert not taken.takes("system.healthy")
    assert taken.subscription() == [r"^chat\.message\..*$", "system.health"]


def test_a_route_refuses_a_pattern_that_is_no_glob_of_types() -> None:
    with pytest.raises(ConfigurationError):
        Route(("chat.(message|x)",))
    with pytest.raises(ConfigurationError):
        Route(())


def test_every_registered_handler_takes_its_own_patterns_unless_settings_replace_them(
    settings: Settings,
) -> None:
    for name, cls in HANDLERS.items():
        assert route(name, settings).patterns == cls.events
    narrowed = settings.model_copy(update={"consumer_events": {"audit_trail": ["chat.*"]}})
    assert route("audit_trail", narrowed).patterns == ("chat.*",)


def test_the_consumer_skips_unrouted_types_by_header_and_moves_past_them(
    topics: Topics, db: Any, run_consumer: Any
) -> None:
    kept = topics.create(f"{topics.prefix}.kept.a")
    other = topics.create(f"{topics.prefix}.other")
    first, last = event(kept, 1), event(kept, 3)
    topics.publish([first, event(other, 2)])
    # A record on a taken topic whose type is not taken, with a body no parser could read:
    # parsing it would park it on the dead-letter topic.
    topics.produce_raw(kept, b"\xff not json", [("ce_type", f"{topics.prefix}.other".encode())])
    topics.publish([last])

    handler = CountingHandler.fresh()(db)
    running = run_consumer(handler, Route((f"{topics.prefix}.kept.*",)))
    poll_until(lambda: len(handler.applications()) == 2, what="both kept events applied")
    group = topics.group + handler.name
    poll_until(lambda: topics.all_committed(group, kept), what="every offset committed")
    running.stop()

    assert handler.applications() == {first.id: 1, last.id: 1}
    assert list(read_parked(topics.bootstrap, topics.dlq)) == []  # nothing was ever parked
    assert topics.committed(group, other) == {0: -1001}  # never subscribed, never read


def test_a_tombstone_makes_the_handler_forget_its_key_and_is_never_parked(
    topics: Topics, db: Any, run_consumer: Any
) -> None:
    kept = topics.create(f"{topics.prefix}.kept.t")
    before, after = event(kept, 1), event(kept, 2)
    topics.publish([before])
    publisher = EventPublisher(topics.bootstrap)
    try:  # what an erasure publishes (storage/user_data.py): the key, no value, no headers
        assert publisher.publish_tombstones([kept], ["conv_erased"], 30) == 1
    finally:
        publisher.close()
    topics.publish([after])

    handler = CountingHandler.fresh()(db)
    running = run_consumer(handler, Route((f"{topics.prefix}.kept.*",)))
    poll_until(lambda: len(handler.applications()) == 2, what="both events applied")
    poll_until(lambda: topics.all_committed(topics.group + handler.name, kept), what="committed")
    running.stop()

    assert handler.forgotten() == {"conv_erased": 1}
    assert handler.applications() == {before.id: 1, after.id: 1}
    assert list(read_parked(topics.bootstrap, topics.dlq)) == []
