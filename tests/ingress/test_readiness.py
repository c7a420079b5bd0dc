"""Readiness probes: bounded by a timeout, one at a time per dependency, one set per interval."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable

from ingress.readiness import OnChange, Probe, Readiness


class Probes:
    """Probes that count their calls; ``hang`` makes one block until released."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.down: set[str] = set()
        self.hang: set[str] = set()
        self.release = threading.Event()
        self.finished: dict[str, threading.Event] = {}

    def check(self, name: str) -> Callable[[], object]:
        finished = self.finished.setdefault(name, threading.Event())

        def run() -> object:
            self.calls[name] += 1
            if name in self.hang:
                self.release.wait(30)
            finished.set()
            if name in self.down:
                raise ConnectionError(name)
            return None

        return run

    def readiness(
        self, cache_seconds: float, timeout: float = 0.2, on_change: OnChange | None = None
    ) -> Readiness:
        required = {"redis": True, "broker": True, "mongodb": True, "kafka": False, "engine": False}
        probes = [Probe(name, self.check(name), req) for name, req in required.items()]
        return Readiness(probes, timeout=timeout, cache_seconds=cache_seconds, on_change=on_change)


def test_a_flood_of_readiness_questions_costs_one_probe_per_dependency() -> None:
    probes = Probes()
    readiness = probes.readiness(cache_seconds=60)

    async def flood() -> None:
        reports = await asyncio.gather(*(readiness.report() for _ in range(200)))
        assert all(report is reports[0] for report in reports)
        assert reports[0].ready and reports[0].degraded == []

    try:
        asyncio.run(flood())
    finally:
        readiness.close()
    assert probes.calls == dict.fromkeys(("redis", "broker", "mongodb", "kafka", "engine"), 1)


def test_a_hung_dependency_times_out_and_is_never_probed_twice_at_once() -> None:
    probes = Probes()
    probes.hang.add("mongodb")
    readiness = probes.readiness(cache_seconds=0, timeout=0.5)

    async def ask() -> None:
        first = await readiness.report()
        assert not first.ready and first.failed == ["mongodb"]
        assert first.checks["mongodb"] == "down: TimeoutError"
        assert first.checks["redis"] == "up"
        second = await readiness.report()
        assert second.failed == ["mongodb"]
        # The first probe still hangs: it was waited on again, no second one was started.
        assert probes.calls["mongodb"] == 1 and probes.calls["redis"] == 2
        probes.hang.clear()
        probes.release.set()
        await asyncio.to_thread(probes.finished["mongodb"].wait, 30)
        third = await readiness.report()
        assert third.ready and probes.calls["mongodb"] == 2

    try:
        asyncio.run(ask())
    finally:
        probes.release.set()
        readiness.close()


def test_kafka_and_the_engine_down_leave_the_ingress_ready_but_degraded() -> None:
    probes = Probes()
    probes.down |= {"kafka", "engine"}
    readiness = probes.readiness(cache_seconds=0)

    async def ask() -> None:
        report = await readiness.report()
        assert report.ready
        assert report.degraded == ["engine", "kafka"]
        assert report.checks["kafka"] == report.checks["engine"] == "down: ConnectionError"
        probes.down = {"broker", "engine"}
        report = await readiness.report()
        assert not report.ready
        assert report.failed == ["broker"] and report.degraded == ["engine"]

    try:
        asyncio.run(ask())
    finally:
        readiness.close()


def test_a_dependency_going_down_and_coming_back_is_told_once_each_way() -> None:
    probes = Probes()
    probes.down |= {"engine"}
    told: list[tuple[str, str, str]] = []
    readiness = probes.readiness(cache_seconds=0, on_change=lambda *change: told.append(change))

    async def ask() -> None:
        await readiness.report()  # the first report: only what is down is news
        assert told == [("engine", "down", "ConnectionError")]
        await readiness.report()
        assert len(told) == 1  # still down: nothing new
        probes.down = {"kafka"}
        await readiness.report()

    try:
        asyncio.run(ask())
    finally:
        readiness.close()
    assert told[1:] == [("kafka", "down", "ConnectionError"), ("engine", "up", "")]
