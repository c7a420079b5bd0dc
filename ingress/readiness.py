"""Readiness: bounded, concurrent, cached probes of what the ingress needs to accept work.

Redis, the broker and MongoDB are required: without them a request can be neither stored nor
enqueued. Kafka (the outbox keeps the events) and the engine (the fallback text answers) are
probed too but only reported as degraded. Each probe has a timeout of its own and runs on this
object's own threads, at most one at a time per dependency, so neither a flood of probes nor a
hung dependency can multiply pings or take the threads requests run on; a report is reused for
``cache_seconds``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pymongo
from confluent_kafka.admin import AdminClient
from pymongo.database import Database
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.settings import Settings
from protos.engine_client import EngineClient

UP = "up"
# Told of a dependency going ``down`` or coming back ``up``: its name, the status, why.
OnChange = Callable[[str, str, str], None]


@dataclass(frozen=True)
class Probe:
    """One dependency: ``check`` raises (or overruns the timeout) when it is down."""

    name: str
    check: Callable[[], object]
    required: bool


@dataclass(frozen=True)
class ReadinessReport:
    checks: dict[str, str]  # name -> "up" or "down: <error type>"
    failed: list[str]  # required and down: the ingress cannot accept work
    degraded: list[str]  # not required and down: work is accepted, some of it waits

    @property
    def ready(self) -> bool:
        return not self.failed


class Readiness:
    """Answers "can this ingress accept work?" without letting the question cost much."""

    def __init__(
        self,
        probes: Sequence[Probe],
        timeout: float,
        cache_seconds: float,
        close: Callable[[], None] = lambda: None,
        on_change: OnChange | None = None,
    ) -> None:
        self._on_change = on_change
        self._probes = tuple(probes)
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._close = close
        # One thread per dependency: a probe still running is waited on again, never doubled.
        self._pool = ThreadPoolExecutor(len(self._probes), thread_name_prefix="parley-readiness")
        self._running: dict[str, Future[object]] = {}
        self._lock = asyncio.Lock()
        self._report: ReadinessReport | None = None
        self._taken_at = -math.inf

    @classmethod
    def open(
        cls,
        settings: Settings,
        db: Database[Any],
        kafka: AdminClient,
        engine: EngineClient,
        on_change: OnChange | None = None,
    ) -> Readiness:
        timeout = settings.readiness_timeout_seconds
        # Own Redis clients: the ingress's retry and wait longer than a probe may.
        redis, broker = (
            Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            )
            for url in (settings.redis_url, settings.broker_url)
        )

        def mongodb() -> object:
            with pymongo.timeout(timeout):
                return db.command("ping")

        def engine_serving() -> object:
            if not engine.is_serving(timeout=timeout):
                raise ConnectionError("not serving")
            return None

        def close() -> None:
            redis.close()
            broker.close()

        probes = (
            Probe("redis", redis.ping, required=True),
            Probe("broker", broker.ping, required=True),
            Probe("mongodb", mongodb, required=True),
            Probe("kafka", lambda: kafka.list_topics(timeout=timeout), required=False),
            Probe("engine", engine_serving, required=False),
        )
        return cls(probes, timeout, settings.readiness_cache_seconds, close, on_change)

    async def report(self) -> ReadinessReport:
        """The latest report, probing again only when it is older than ``cache_seconds``."""
        if self._report is not None and not self._stale():
            return self._report
        async with self._lock:
            # Requests that queued here while one probed take its report.
            if self._report is None or self._stale():
                before, self._report = self._report, await self._probe_all()
                self._taken_at = time.monotonic()
                self._tell_changes(before, self._report)
            return self._report

    def _tell_changes(self, before: ReadinessReport | None, now: ReadinessReport) -> None:
        """Each dependency that went down or came back (the first report tells only what is
        down: a dependency up from the start is not news)."""
        if self._on_change is None:
            return
        for name, check in now.checks.items():
            was = before.checks.get(name) if before is not None else UP
            if (was == UP) != (check == UP):
                status, detail = ("up", "") if check == UP else ("down", check.split(": ", 1)[-1])
                self._on_change(name, status, detail)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._close()

    def _stale(self) -> bool:
        return time.monotonic() - self._taken_at >= self._cache_seconds

    async def _probe_all(self) -> ReadinessReport:
        results = await asyncio.gather(*(self._probe(probe) for probe in self._probes))
        checks = {probe.name: result for probe, result in zip(self._probes, results, strict=True)}
        down = [probe for probe in self._probes if checks[probe.name] != UP]
        return ReadinessReport(
            checks=checks,
            failed=sorted(probe.name for probe in down if probe.required),
            degraded=sorted(probe.name for probe in down if not probe.required),
        )

    async def _probe(self, probe: Probe) -> str:
        future = self._running.get(probe.name)
        if future is None or future.done():
            future = self._pool.submit(probe.check)
            self._running[probe.name] = future
        try:
            # Shielded: a timeout leaves the running probe to finish; the next round waits on it.
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self._timeout)
        except Exception as exc:
            return f"down: {type(exc).__name__}"
        return UP
