"""Issue 14's analytics acceptance on the real platform: 50 messages in through
``POST /v1/messages`` across five users' conversations, their events read by
``parley consume analytics`` (killed with SIGKILL midway and started again, so part of the
stream is delivered twice), and ``GET /v1/analytics/summary`` agreeing exactly with the figures
recomputed here from the stored messages and conversations (docs/analytics.md's definitions)."""

from __future__ import annotations

import json
import math
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import ProcessGroup, running_platform
from testenv import ENGINE_PORT, free_port

from core.settings import Settings
from core.timeutil import as_utc, isoformat
from storage.analytics import FACTS_COLLECTION
from tests.credentials import tenant_headers
from tests.kafka_offsets import start_at_the_end

pytestmark = pytest.mark.e2e

TOPICS = (
    "chat.message.received",
    "chat.message.sent",
    "chat.message.failed",
    "chat.conversation.started",
    "chat.conversation.updated",
    "chat.conversation.ended",
)
GROUP_PREFIX = f"parley-test-{uuid.uuid4().hex[:8]}."
ENV = {
    "PARLEY_CONSUMER_GROUP_PREFIX": GROUP_PREFIX,
    "PARLEY_CONSUMER_EVENTS": json.dumps({"analytics": list(TOPICS)}),
}
USERS = ("ana", "bo", "cy", "dee", "eve")
MESSAGES = 50


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, db: Any, broker: Any
) -> Iterator[tuple[str, ProcessGroup]]:
    logs: Path = tmp_path_factory.mktemp("analytics-e2e-logs")
    start_at_the_end(settings.kafka_bootstrap, f"{GROUP_PREFIX}analytics", TOPICS)
    with running_platform(logs, ENGINE_PORT, free_port(), ENV) as (base, group):
        group.start("consume-analytics", "consume", "analytics", env=ENV)
        yield base, group


def _kill(group: ProcessGroup, name: str) -> None:
    """SIGKILL: no chance to finish the current event or commit its offset."""
    child = group.children.pop(name)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=20)


def _wait(what: str, check: Any, timeout: float = 180.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _nearest_rank(values: list[int], p: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def _ms(later: datetime, earlier: datetime) -> int:
    return round((as_utc(later) - as_utc(earlier)).total_seconds() * 1000)


def _expected(db: Any, tenant: str) -> dict[str, Any]:
    """The figures as docs/analytics.md defines them, from the stored documents alone."""
    stored = list(db["messages"].find({"tenant_id": tenant}))
    inbound = {m["_id"]: m for m in stored if m["direction"] == "inbound"}
    replies = [m for m in stored if m["direction"] == "outbound" and "sent" in m["journey"]]
    conversations = list(db["conversations"].find({"tenant_id": tenant}))
    response = [_ms(r["journey"]["sent"], inbound[r["in_reply_to"]]["created_at"]) for r in replies]
    engine = [
        _ms(r["created_at"], inbound[r["in_reply_to"]]["journey"]["processed"]) for r in replies
    ]
    first_sent: dict[str, datetime] = {}
    for reply in replies:
        at = as_utc(reply["journey"]["sent"])
        key = reply["conversation_id"]
        first_sent[key] = min(at, first_sent.get(key, at))
    first = [
        _ms(first_sent[c["_id"]], c["created_at"]) for c in conversations if c["_id"] in first_sent
    ]
    languages = Counter(
        ((m.get("processing") or {}).get("language") or {}).get("code") or "unknown"
        for m in inbound.values()
    )
    return {
        "messages_in": len(inbound),
        "messages_out": len(replies),
        "conversations_started": len(conversations),
        "response_count": len(response),
        "response_p50_ms": _nearest_rank(response, 50),
        "response_p95_ms": _nearest_rank(response, 95),
        "first_response_count": len(first),
        "first_response_p50_ms": _nearest_rank(first, 50),
        "first_response_p95_ms": _nearest_rank(first, 95),
        "engine_count": len(engine),
        "engine_p50_ms": _nearest_rank(engine, 50),
        "engine_p95_ms": _nearest_rank(engine, 95),
        "languages": dict(languages),
    }


def test_the_summary_agrees_exactly_with_the_stored_messages_across_a_killed_consumer(
    platform: tuple[str, ProcessGroup], settings: Settings, tenant: str, db: Any
) -> None:
    base, group = platform
    headers = tenant_headers(settings, tenant)
    since = datetime.now(UTC) - timedelta(minutes=1)

    def post(index: int) -> None:
        user = USERS[index % len(USERS)]
        body = {"user_id": user, "text": f"hello {index}: what are your opening hours?"}
        posted = httpx.post(f"{base}/v1/messages", headers=headers, json=body, timeout=30)
        assert posted.status_code == 202, posted.text

    def facts() -> int:
        counted: int = db[FACTS_COLLECTION].count_documents({"tenant_id": tenant})
        return counted

    for index in range(MESSAGES // 2):
        post(index)
    _wait("the consumer to count some events", lambda: facts() >= 10)
    _kill(group, "consume-analytics")  # mid-stream: its uncommitted events come again
    for index in range(MESSAGES // 2, MESSAGES):
        post(index)
    group.start("consume-analytics", "consume", "analytics", env=ENV)

    def chain_done() -> bool:
        # Messages a user sent together are answered by one reply (docs/bursts.md): every
        # message is answered once its turn completed, by as many replies as there were bursts.
        completed: int = db["messages"].count_documents(
            {"tenant_id": tenant, "direction": "inbound", "status": "completed"}
        )
        return completed == MESSAGES

    _wait("every turn to complete", chain_done, timeout=300)
    replies = db["messages"].count_documents(
        {"tenant_id": tenant, "direction": "outbound", "journey.sent": {"$exists": True}}
    )
    params = {"from": isoformat(since), "to": isoformat(datetime.now(UTC) + timedelta(minutes=1))}

    def summary() -> dict[str, Any] | None:
        answer = httpx.get(f"{base}/v1/analytics/summary", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        figures: dict[str, Any] = answer.json()["figures"]
        return figures if figures["messages_out"] >= replies else None

    figures = _wait("the analytics to count every reply", summary)
    expected = _expected(db, tenant)

    assert expected["messages_in"] == MESSAGES and expected["messages_out"] == replies
    stored = list(db["messages"].find({"tenant_id": tenant}, {"direction": 1, "reply_id": 1}))
    reply_ids = {m["_id"] for m in stored if m["direction"] == "outbound"}
    assert all(m.get("reply_id") in reply_ids for m in stored if m["direction"] == "inbound")
    assert expected["conversations_started"] == len(USERS)
    assert {name: figures[name] for name in expected} == expected
    assert figures["failures"] == {} and figures["dead_letters"] == {}
    group.assert_running()
