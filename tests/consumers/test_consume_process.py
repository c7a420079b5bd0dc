"""``parley consume audit_trail`` as a real process: killed mid-stream and started again, it
loses no event and applies none twice; stopped with SIGTERM, it commits what it did and exits."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from consumer_kit import Topics, event, poll_until
from processes import ProcessGroup

from consumers.audit_trail import EVENT_LOG_COLLECTION, AuditTrail
from core.settings import Settings

EVENTS = 200


def _consumer_env(topics: Topics) -> dict[str, str]:
    return {
        "PARLEY_CONSUMER_GROUP_PREFIX": topics.group,
        "PARLEY_CONSUMER_EVENTS": json.dumps({AuditTrail.name: [f"{topics.prefix}.*"]}),
        "PARLEY_EVENT_DLQ_TOPIC": topics.dlq,
    }


def _applications(db: Any, topic: str) -> list[int]:
    log = db[EVENT_LOG_COLLECTION]
    return [doc["applications"] for doc in log.find({"type": topic}, {"applications": 1})]


def test_a_consumer_killed_mid_stream_and_restarted_loses_no_event_and_applies_none_twice(
    topics: Topics, db: Any, settings: Settings, tmp_path: Path
) -> None:
    stream = topics.create(f"{topics.prefix}.stream", partitions=3)
    events = [event(stream, n) for n in range(EVENTS)]
    topics.publish(events)
    env = _consumer_env(topics)
    group = topics.group + AuditTrail.name  # what PARLEY_CONSUMER_GROUP_PREFIX makes of it
    processes = ProcessGroup(tmp_path)
    try:
        processes.start("consume", "consume", AuditTrail.name, env=env)
        poll_until(lambda: len(_applications(db, stream)) > 0, 90, "the first events applied")
        victim = processes.children.pop("consume")
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(30)
        applied_before = len(_applications(db, stream))
        assert applied_before < EVENTS, "the stream was over before the kill"

        processes.start("consume-again", "consume", AuditTrail.name, env=env)
        poll_until(
            lambda: len(_applications(db, stream)) == EVENTS, 120, f"{EVENTS} events applied"
        )
        poll_until(lambda: topics.all_committed(group, stream), 60, "every offset committed")
        processes.assert_running()
    finally:
        processes.stop()

    log = db[EVENT_LOG_COLLECTION]
    docs = list(log.find({"type": stream}))
    assert sorted(doc["event_id"] for doc in docs) == sorted(e.id for e in events)
    assert {doc["_id"] for doc in docs} == {f"audit_trail:{e.id}" for e in events}
    assert [doc["applications"] for doc in docs] == [1] * EVENTS


def test_sigterm_finishes_commits_and_exits_cleanly(
    topics: Topics, db: Any, settings: Settings, tmp_path: Path
) -> None:
    stream = topics.create(f"{topics.prefix}.stream")
    topics.publish([event(stream, n) for n in range(20)])
    group = topics.group + AuditTrail.name
    processes = ProcessGroup(tmp_path)
    try:
        processes.start("consume", "consume", AuditTrail.name, env=_consumer_env(topics))
        poll_until(lambda: len(_applications(db, stream)) == 20, 90, "all 20 applied")
        child = processes.children.pop("consume")
        os.killpg(child.pid, signal.SIGTERM)
        assert child.wait(30) == 0, processes.log("consume")
    finally:
        processes.stop()
    assert topics.all_committed(group, stream)
