"""A handler that keeps failing an event parks it on the event dead-letter topic, with the
error and where it came from, and the consumer moves on; ``parley events dlq replay`` hands it
back once, however often it is run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from consumer_kit import Topics, event, poll_until
from counting_handler import CountingHandler

from cli.main import main
from consumers import registry
from consumers.router import Route
from consumers.runtime import TRIES
from core.settings import get_settings


@pytest.fixture
def parley(
    topics: Topics, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Any]:
    """``parley …`` in this process, on this test's dead-letter topic, the counting handler
    registered; returns the JSON lines it printed and its exit code."""
    monkeypatch.setenv("PARLEY_EVENT_DLQ_TOPIC", topics.dlq)
    counting = CountingHandler.fresh()
    monkeypatch.setitem(registry.HANDLERS, counting.name, counting)
    get_settings.cache_clear()

    def run(*argv: str) -> tuple[list[dict[str, Any]], int]:
        capsys.readouterr()
        code = main(list(argv))
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()], code

    yield run
    get_settings.cache_clear()


def test_a_failing_event_is_parked_with_its_error_and_the_offset_moves_on(
    topics: Topics, db: Any, run_consumer: Any, parley: Any
) -> None:
    source = topics.create(f"{topics.prefix}.flaky")
    good, bad, after = event(source, 1), event(source, 2, {"fail": True}), event(source, 3)
    topics.publish([good, bad, after])
    counting = registry.HANDLERS["counting"]
    assert issubclass(counting, CountingHandler)
    handler = counting(db)
    counting.breaking(db, True)

    running = run_consumer(handler, Route((source,)))
    poll_until(lambda: set(handler.applications()) == {good.id, after.id}, what="others applied")
    group = topics.group + handler.name
    poll_until(lambda: topics.all_committed(group, source), what="every offset committed")
    running.stop()

    assert handler.counts.find_one({"_id": "failures:" + bad.id})["tries"] == TRIES
    listed, code = parley("events", "dlq", "list")
    assert code == 0
    [parked] = listed
    assert parked["id"] == bad.id
    assert parked["type"] == source
    assert parked["handler"] == "counting"
    assert parked["error"] == "RuntimeError: cannot take event 2"
    assert parked["time"] == bad.to_dict()["time"]
    assert parked["replayed"] is False
    # Where it came from, in its headers: the first partition's second record.
    from consumers.dead_letters import read_parked

    [record] = read_parked(topics.bootstrap, topics.dlq)
    assert (record.headers["parley_topic"], record.headers["parley_partition"]) == (source, "0")
    assert record.headers["parley_offset"] == "1"
    assert json.loads(record.value) == bad.to_dict()


def test_replaying_a_parked_event_applies_it_once_however_often_it_is_replayed(
    topics: Topics, db: Any, run_consumer: Any, parley: Any
) -> None:
    source = topics.create(f"{topics.prefix}.flaky")
    bad = event(source, 7, {"fail": True})
    topics.publish([bad])
    counting = registry.HANDLERS["counting"]
    assert issubclass(counting, CountingHandler)
    handler = counting(db)
    counting.breaking(db, True)
    running = run_consumer(handler, Route((source,)))
    poll_until(lambda: topics.all_committed(topics.group + handler.name, source), what="parked")
    running.stop()

    still_broken, code = parley("events", "dlq", "replay", "--handler", "counting")
    assert code == 1
    assert [line["outcome"] for line in still_broken] == ["failed"]
    assert handler.applications() == {}

    counting.breaking(db, False)
    first, code = parley("events", "dlq", "replay", "--id", bad.id)
    assert code == 0
    assert [(line["id"], line["outcome"]) for line in first] == [(bad.id, "applied")]
    second, code = parley("events", "dlq", "replay")
    assert code == 0
    assert [(line["id"], line["outcome"]) for line in second] == [(bad.id, "already applied")]
    assert handler.applications() == {bad.id: 1}

    [listed], _ = parley("events", "dlq", "list")
    assert listed["replayed"] is True
    nothing, code = parley("events", "dlq", "replay", "--handler", "audit_trail")
    assert (nothing, code) == ([], 0)
