"""The load process: ``python -m bench.loadgen PLAN.json RESULT.json``.

It runs apart from everything it measures. Two kinds of plan:

- ``accept`` (R1): a closed loop — ``concurrency`` connections, each sending the next request
  as soon as the last was answered — for ``warmup_seconds`` then ``seconds``; the rate and
  latencies of the measured part.
- ``pipeline`` (R2, R3): the process also serves the provider fake, so a message's send and
  its delivery are timed on one clock. ``window`` keeps that many messages sent but not yet
  delivered (the most the pipeline can do, with a bounded queue: a backlog older than the
  reconciler's patience would be re-driven); ``rate`` sends at a fixed pace. The first
  ``warmup`` messages are left out of every figure. ``senders`` (16) connections carry the
  sends; with one, messages reach the ingress in the order of their numbers, so the order of
  the replies at the fake is checked against it, per conversation (``out_of_order``; R7).

A reply that answers a burst (docs/bursts.md) quotes its first message only; with the plan's
``database`` (Parley's), the other messages it answered are read from the store
(``Answers``) and count as delivered when it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from bench.httpwire import Connection, serve
from bench.stats import latency_summary
from bench.traffic import Traffic
from core.settings import Settings

SENDERS = 16  # connections a pipeline load keeps open to the ingress
REQUEST_SECONDS = 30.0  # an ingress that has not answered by then is asked again


async def run_accept(plan: dict[str, Any], traffic: Traffic) -> dict[str, Any]:
    concurrency, warmup, seconds = plan["concurrency"], plan["warmup_seconds"], plan["seconds"]
    numbers = itertools.count()
    start = time.monotonic()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    latencies: list[float] = []
    statuses: dict[str, int] = {}

    async def loop() -> None:
        connection = Connection(traffic.host, traffic.port)
        while (now := time.monotonic()) < stop_at:
            request = traffic.request(next(numbers))
            sent = time.monotonic()
            try:
                status, _ = await connection.send(request)
            except (OSError, asyncio.IncompleteReadError):
                status = 0
            done = time.monotonic()
            if now >= measure_from and done <= stop_at:
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if 200 <= status < 300:
                    latencies.append(done - sent)
        connection.close()

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return {
        "accepted": len(latencies),
        "seconds": seconds,
        "rate": len(latencies) / seconds,
        "statuses": statuses,
        "latency": latency_summary(latencies),
    }


class Answers:
    """Which messages each reply answered, read from Parley's store: a message's ``reply_id``
    names its reply, the reply's ``answers`` every message of its burst."""

    def __init__(self, url: str, database: str) -> None:
        self._client: MongoClient[dict[str, Any]] = MongoClient(url)
        self._messages = self._client[database]["messages"]

    def answered_with(self, wamids: list[str]) -> dict[str, list[str]]:
        """For each quoted message (a provider id), the provider ids of the messages its reply
        answered besides it; a message not stored or not answered yet is left out. A reply
        quotes the first message of the burst it answers: one quoting a later message of a
        burst is a reply of that message's own, answering nothing else."""
        firsts = self._inbound({"provider_message_id": {"$in": wamids}}, {"reply_id": 1})
        reply_of = {d["provider_message_id"]: d["reply_id"] for d in firsts if d.get("reply_id")}
        first_of = {d["provider_message_id"]: d["_id"] for d in firsts}
        replies = self._messages.find({"_id": {"$in": list(reply_of.values())}}, {"answers": 1})
        answers = {doc["_id"]: list(doc.get("answers", [])) for doc in replies}
        ids = [each for found in answers.values() for each in found]
        wamid_of = {
            doc["_id"]: doc["provider_message_id"]
            for doc in self._inbound({"_id": {"$in": ids}}, {})
        }
        return {
            wamid: [wamid_of[m] for m in answers[reply][1:] if m in wamid_of]
            if answers[reply][:1] == [first_of[wamid]]
            else []
            for wamid, reply in reply_of.items()
            if reply in answers
        }

    def _inbound(self, query: dict[str, Any], fields: dict[str, int]) -> list[dict[str, Any]]:
        found = self._messages.find(
            {"direction": "inbound", **query}, {"provider_message_id": 1, **fields}
        )
        return [doc for doc in found if doc.get("provider_message_id")]

    def close(self) -> None:
        self._client.close()


class Deliveries:
    """The provider fake's memory: when each message's reply first arrived, and in what order.
    With ``answers``, a reply counts for every message it answered (``credit``)."""

    def __init__(self, answers: Answers | None = None) -> None:
        self.at: dict[str, float] = {}
        self.order: list[str] = []
        self.duplicates = 0
        self.together = 0  # messages answered by the reply to an earlier one (a burst's)
        self.arrived = asyncio.Event()
        self._numbers = itertools.count(1)
        self._answers = answers
        self._quoted: list[str] = []  # quoted messages whose burst is not looked up yet
        self._looked_up = 0.0

    async def credit(self) -> None:
        """Count each message a reply answered with the one it quotes (a burst's), at that
        reply's time, in the burst's order; at most a few looks a second."""
        if self._answers is None or not self._quoted or time.monotonic() - self._looked_up < 0.2:
            return
        self._looked_up = time.monotonic()
        quoted, self._quoted = self._quoted, []
        found = await asyncio.to_thread(self._answers.answered_with, quoted)
        for wamid in quoted:
            if wamid not in found:
                self._quoted.append(wamid)  # not answered in the store yet: look again
                continue
            for other in found[wamid]:
                if other in self.at:
                    self.duplicates += 1  # answered by a reply of its own as well
                else:
                    self.at[other] = self.at[wamid]
                    self.order.append(other)
                    self.together += 1
            self.arrived.set()

    async def handle(self, path: str, body: bytes) -> tuple[int, bytes]:
        now = time.monotonic()
        try:
            quoted = json.loads(body).get("context", {}).get("message_id")
        except (ValueError, AttributeError):
            quoted = None
        if quoted:
            if quoted in self.at:
                self.duplicates += 1
            else:
                self.at[quoted] = now
                self.order.append(quoted)
                self.arrived.set()
                if self._answers is not None:
                    self._quoted.append(quoted)
        wamid = f"wamid.BENCHOUT{next(self._numbers):010d}"
        answer = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": "x", "wa_id": "x"}],
            "messages": [{"id": wamid}],
        }
        return 200, json.dumps(answer).encode()


async def run_pipeline(plan: dict[str, Any], traffic: Traffic) -> dict[str, Any]:
    # Bare baselines have no store: a reply answers the message it quotes, and only that one.
    answers = Answers(Settings().mongo_url, traffic.database) if traffic.database else None
    deliveries = Deliveries(answers)
    server = await serve("127.0.0.1", plan["fake_port"], deliveries.handle)
    try:
        return await _pipeline(plan, traffic, deliveries)
    finally:
        server.close()
        if answers is not None:
            answers.close()


async def _pipeline(
    plan: dict[str, Any], traffic: Traffic, deliveries: Deliveries
) -> dict[str, Any]:
    total, warmup = plan["messages"], plan["warmup"]
    window: int | None = plan.get("window")
    rate = float(plan.get("rate") or 1.0)
    sent_at: dict[str, float] = {}
    refused: dict[str, int] = {}
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    send = _chain_sender(traffic) if traffic.kind == "chain" else None

    async def sender() -> None:
        connection = Connection(traffic.host, traffic.port)
        while (i := await queue.get()) is not None:
            mid = traffic.message_id(i)
            sent_at[mid] = time.monotonic()
            for _ in range(20):  # a 5xx is retried, as a provider would
                try:
                    if send is not None:
                        await send(mid)
                        break
                    status, _ = await asyncio.wait_for(
                        connection.send(traffic.request(i)), REQUEST_SECONDS
                    )
                except (OSError, asyncio.IncompleteReadError, TimeoutError):
                    connection.close()
                    status = 0
                if status == 200 or status == 202:
                    break
                refused[str(status)] = refused.get(str(status), 0) + 1
                await asyncio.sleep(0.2)
        connection.close()

    senders = [asyncio.create_task(sender()) for _ in range(plan.get("senders", SENDERS))]
    started = time.monotonic()
    patience = plan.get("drain_seconds", 60.0)
    issued = 0
    for i in range(total):
        if window is not None and not await _room(deliveries, i - window, patience):
            break  # nothing delivered for a long while (workers gone): the rest count as lost
        if window is None:
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        await queue.put(i)
        issued = i + 1
    for _ in senders:
        await queue.put(None)
    await asyncio.gather(*senders)
    sending_seconds = time.monotonic() - started
    await _drain(deliveries, sent_at, patience)
    in_order = len(senders) == 1 and traffic.kind != "chain"
    result = _pipeline_result(
        traffic, total, warmup, sent_at, deliveries, refused, sending_seconds, in_order
    )
    result["unsent"] = total - issued
    return result


async def _room(deliveries: Deliveries, delivered_needed: int, patience: float) -> bool:
    """Wait until more than ``delivered_needed`` messages were delivered; False when none
    arrived for ``patience`` seconds."""
    last, seen = time.monotonic(), len(deliveries.at)
    while len(deliveries.at) <= delivered_needed:
        deliveries.arrived.clear()
        await _wait(deliveries.arrived, 0.05)
        await deliveries.credit()
        if len(deliveries.at) != seen:
            last, seen = time.monotonic(), len(deliveries.at)
        elif time.monotonic() - last > patience:
            return False
    return True


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


async def _drain(deliveries: Deliveries, sent_at: dict[str, float], patience: float) -> None:
    """Until every sent message was delivered, or none arrived for ``patience`` seconds."""
    last, seen = time.monotonic(), len(deliveries.at)
    while len(deliveries.at) < len(sent_at) and time.monotonic() - last < patience:
        await asyncio.sleep(0.1)
        await deliveries.credit()
        if len(deliveries.at) != seen:
            last, seen = time.monotonic(), len(deliveries.at)


def _pipeline_result(
    traffic: Traffic,
    total: int,
    warmup: int,
    sent_at: dict[str, float],
    deliveries: Deliveries,
    refused: dict[str, int],
    sending_seconds: float,
    in_order: bool,
) -> dict[str, Any]:
    """The load's figures; ``in_order``: messages were sent in the order of their numbers, so
    their replies are checked for order too (bare chains promise none)."""
    measured = [traffic.message_id(i) for i in range(warmup, total)]
    done = sorted(deliveries.at[m] for m in measured if m in deliveries.at)
    latencies = [deliveries.at[m] - sent_at[m] for m in measured if m in deliveries.at]
    first_sent = min((sent_at[m] for m in measured if m in sent_at), default=float("nan"))
    span = (done[-1] - first_sent) if done else float("nan")
    return {
        "sent": len(sent_at),
        "measured": len(measured),
        "delivered": len(done),
        "lost": len(measured) - len(done),
        "duplicates": deliveries.duplicates,
        "together": deliveries.together,
        "refused": refused,
        "sending_seconds": sending_seconds,
        "seconds": span,
        "throughput": len(done) / span if done else 0.0,
        "latency": latency_summary(latencies),
        "out_of_order": _out_of_order(traffic, total, deliveries) if in_order else None,
    }


def _out_of_order(traffic: Traffic, total: int, deliveries: Deliveries) -> int:
    """Replies that reached the fake after the reply to a later message of their conversation."""
    number = {traffic.message_id(i): i for i in range(total)}
    latest: dict[int, int] = {}  # conversation -> the latest message answered so far
    late = 0
    for mid in deliveries.order:
        i = number.get(mid)
        if i is None:
            continue
        conversation = i % traffic.conversations
        if i < latest.get(conversation, -1):
            late += 1
        else:
            latest[conversation] = i
    return late


def _chain_sender(traffic: Traffic) -> Any:
    """Bare chains go straight onto the broker (Celery's publish blocks: a few threads)."""
    from bench.bare_chain import turn_chain

    pool = ThreadPoolExecutor(4, thread_name_prefix="publish")

    async def send(mid: str) -> None:
        await asyncio.get_running_loop().run_in_executor(
            pool, lambda: turn_chain(mid).apply_async()
        )

    return send


def main(argv: list[str]) -> int:
    plan = json.loads(Path(argv[0]).read_text())
    traffic = Traffic.from_plan(plan["traffic"])
    runner = run_accept if plan["kind"] == "accept" else run_pipeline
    result = asyncio.run(runner(plan, traffic))
    Path(argv[1]).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
