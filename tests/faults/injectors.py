"""The faults, one per scenario: each runs in a thread at its moment and always undoes itself.

An injector gets a ``FaultContext`` (the platform's processes, the provider fake, a seeded
random source, a stop event) and returns once whatever it broke is running again, so the
drain that follows measures recovery, not the outage. Every step it takes is noted with its
time since the load started, for the report.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random

import psutil

from services import devstack
from services.devstack import paths
from tests.faults.platform import ALL_QUEUES, CHAIN_QUEUES, FaultPlatform
from tests.faults.witnesses import RecordingMessenger


@dataclass
class FaultContext:
    platform: FaultPlatform
    provider: RecordingMessenger
    rng: Random
    stop: threading.Event
    load_started: float
    load_seconds: float
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(f"t={time.monotonic() - self.load_started:6.1f}s {text}")

    def sleep_until(self, fraction: float) -> bool:
        """Wait until ``fraction`` of the planned load time has passed; False if told to stop."""
        due = self.load_started + fraction * self.load_seconds
        return not self.stop.wait(max(0.0, due - time.monotonic()))


Injector = Callable[[FaultContext], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    inject: Injector | None
    at: float = 0.3  # when the fault starts, as a fraction of the planned load time
    dead_letter_reasons: frozenset[str] = frozenset()  # the reasons this fault explains
    crash: bool = False  # a process dies mid-task: a rare duplicate send is expected
    services: tuple[str, ...] = ()  # devstack services the fault stops (must be ours to stop)
    messages: float = 1.0  # the share of PARLEY_FAULTS_MESSAGES this scenario sends
    conversations: float = 1.0  # the share of PARLEY_FAULTS_CONVERSATIONS it spreads them over
    load_seconds: float | None = None  # how long the load lasts (None: PARLEY_FAULTS_RATE's)
    reply_parts: int = 1  # more than 1: the engine answers every turn in this many parts
    status_callbacks: bool = False  # the provider's delivery and read webhooks race each send
    bounded_executions: bool = False  # the task executions per turn must stay within a bound
    consumer: bool = False  # an audit-trail consumer runs; every event applied exactly once


def kill_worker_children(ctx: FaultContext, per_queue: int = 2) -> None:
    """``kill -9`` pool children of every worker at random moments during the load."""
    moments = sorted(
        (ctx.rng.uniform(0.1, 0.9), queue) for queue in ALL_QUEUES for _ in range(per_queue)
    )
    for fraction, queue in moments:
        if not ctx.sleep_until(fraction):
            return
        children = ctx.platform.pool_children(f"worker-{queue}")
        if not children:
            ctx.note(f"worker-{queue}: no pool child to kill (thread pool)")
            continue
        victim = ctx.rng.choice(children)
        try:
            victim.send_signal(signal.SIGKILL)
            ctx.note(f"worker-{queue}: killed child {victim.pid}")
        except psutil.NoSuchProcess:
            ctx.note(f"worker-{queue}: child {victim.pid} already gone")


def kill_worker_main(ctx: FaultContext, down_seconds: float = 2.0) -> None:
    """``kill -9`` each chain worker's main process and its children once, then restart it."""
    queues = list(CHAIN_QUEUES)
    ctx.rng.shuffle(queues)
    moments = sorted(ctx.rng.uniform(0.1, 0.8) for _ in queues)
    for fraction, queue in zip(moments, queues, strict=True):
        if not ctx.sleep_until(fraction):
            return
        name = f"worker-{queue}"
        pid = ctx.platform.kill_tree(name)
        ctx.note(f"{name}: killed main {pid} and its children")
        try:
            ctx.stop.wait(down_seconds)
        finally:
            ctx.platform.restart(name)
            ctx.note(f"{name}: restarted as {ctx.platform.children[name].pid}")


CONSUMER = "consume-audit-trail"


def kill_consumer(ctx: FaultContext, kills: int = 3, down_seconds: float = 2.0) -> None:
    """``kill -9`` the audit-trail consumer at three random moments of the load, between an
    event's effect and its offset's commit as often as not, then start it again."""
    moments = sorted(ctx.rng.uniform(0.1, 0.9) for _ in range(kills))
    for fraction in moments:
        if not ctx.sleep_until(fraction):
            return
        pid = ctx.platform.kill_tree(CONSUMER)
        ctx.note(f"{CONSUMER}: killed {pid}")
        try:
            ctx.stop.wait(down_seconds)
        finally:
            ctx.platform.restart(CONSUMER)
            ctx.note(f"{CONSUMER}: restarted as {ctx.platform.children[CONSUMER].pid}")


def restart_redis(ctx: FaultContext) -> None:
    """Stop and start the broker's Redis; its append-only file keeps the queues."""
    _restart_service(ctx, "redis", wipe=False, down_seconds=0.0)


def restart_redis_wiped(ctx: FaultContext) -> None:
    """Stop Redis, delete its data (queues, unacked tasks, sessions), start it empty."""
    _restart_service(ctx, "redis", wipe=True, down_seconds=0.0)


def kafka_outage(ctx: FaultContext) -> None:
    """Kafka stopped for 30 s, then started again."""
    _restart_service(ctx, "kafka", wipe=False, down_seconds=30.0)


def restart_mongo(ctx: FaultContext) -> None:
    """The MongoDB-wire server (FerretDB) stopped and started again."""
    _restart_service(ctx, "mongo", wipe=False, down_seconds=0.0)


def _restart_service(ctx: FaultContext, name: str, *, wipe: bool, down_seconds: float) -> None:
    try:
        devstack.down([name])
        ctx.note(f"{name}: stopped")
        if wipe:
            data = paths.data_dir(name)
            for entry in data.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            ctx.note(f"{name}: data wiped")
        time.sleep(down_seconds)  # not cut short: the outage is the scenario
    finally:
        devstack.up([name])
        ctx.note(f"{name}: answering again")


def provider_faults(ctx: FaultContext, every: int = 10) -> None:
    """Until the load ends: after every ``every`` Send API requests, a burst of one kind of
    failure, in turn 3 x 429 (Retry-After 2 s), 3 x 500 (Graph code 2), 2 x hang."""
    bursts: list[tuple[str, Callable[[], None]]] = [
        ("3 x 429 Retry-After 2", lambda: _rate_limited(ctx.provider, 3)),
        ("3 x 500", lambda: _server_errors(ctx.provider, 3)),
        ("2 x hang", lambda: ctx.provider.hang_next(times=2)),
    ]
    counts: dict[str, int] = {kind: 0 for kind, _ in bursts}
    last = len(ctx.provider.requests_to("/me/messages"))
    turn = 0
    end = ctx.load_started + ctx.load_seconds
    while time.monotonic() < end and not ctx.stop.wait(0.1):
        seen = len(ctx.provider.requests_to("/me/messages"))
        if seen - last >= every:
            kind, queue_burst = bursts[turn % len(bursts)]
            queue_burst()
            counts[kind] += 1
            last, turn = seen, turn + 1
    ctx.note(f"provider: bursts queued {counts}")


def _rate_limited(provider: RecordingMessenger, times: int) -> None:
    for _ in range(times):
        provider.fail_with_rate_limit(retry_after=2, status=429)


def _server_errors(provider: RecordingMessenger, times: int) -> None:
    for _ in range(times):
        provider.fail_with_server_error()


# A throttling provider is to be waited out, however long: three minutes of nothing but 429s.
THROTTLE_SECONDS = 180.0
THROTTLE_RETRY_AFTER = (5, 30)  # seconds, drawn for each refusal (Graph's hints vary like this)


def provider_throttle(ctx: FaultContext, seconds: float = THROTTLE_SECONDS) -> None:
    """Every Send API call answered 429 (Graph 613, Retry-After 5-30 s) for three minutes while
    the load goes on, so each conversation's turns queue behind its first throttled one."""
    low, high = THROTTLE_RETRY_AFTER
    ctx.provider.throttle(seconds, lambda: ctx.rng.randint(low, high))
    ctx.note(f"provider: every send answered 429 (Retry-After {low}-{high} s) for {seconds:.0f} s")
    try:
        ctx.stop.wait(seconds)
    finally:
        ctx.provider.throttle(0.0, lambda: 0.0)
        refused = ctx.provider.throttled
        ctx.note(
            f"provider: throttling over; {sum(refused.values())} sends of {len(refused)} replies "
            f"were refused, at most {max(refused.values(), default=0)} of one reply"
        )


def mongo_stall(ctx: FaultContext, seconds: float = 20.0) -> None:
    """The MongoDB-wire server frozen for 20 s (SIGSTOP, then SIGCONT): its connections stay
    open and accept requests, and nothing answers them."""
    (status,) = devstack.status(["mongo"])
    if status.state != "up" or status.pid is None:
        raise RuntimeError(f"mongo is {status.state}: only a server we started can be frozen")
    pid = status.pid
    # Should this process die mid-stall, a shell of its own still wakes the shared server.
    waker = subprocess.Popen(
        ["/bin/sh", "-c", f"sleep {seconds + 10:.0f}; kill -CONT {pid}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        os.kill(pid, signal.SIGSTOP)
        ctx.note(f"mongo: pid {pid} stopped (SIGSTOP)")
        time.sleep(seconds)  # not cut short: the stall is the scenario
    finally:
        os.kill(pid, signal.SIGCONT)
        ctx.note(f"mongo: pid {pid} continued (SIGCONT)")
        with contextlib.suppress(ProcessLookupError):  # it woke the server already
            os.killpg(waker.pid, signal.SIGKILL)
        waker.wait(timeout=10)


def engine_outage(ctx: FaultContext, seconds: float = 20.0) -> None:
    """The engine process stopped for 20 s, then started again."""
    try:
        ctx.platform.stop_one("engine")
        ctx.note("engine: stopped")
        time.sleep(seconds)
    finally:
        ctx.platform.restart("engine")
        ctx.note("engine: started again")


SCENARIOS = (
    Scenario("baseline", None),
    # These two pick their own random moments over the whole load.
    Scenario("kill-worker-child", kill_worker_children, at=0.0, crash=True),
    Scenario("kill-worker-main", kill_worker_main, at=0.0, crash=True),
    Scenario("kill-consumer", kill_consumer, at=0.0, consumer=True),
    Scenario("redis-restart", restart_redis, services=("redis",)),
    Scenario("redis-restart-wiped", restart_redis_wiped, services=("redis",)),
    Scenario("kafka-outage-30s", kafka_outage, services=("kafka",)),
    Scenario("mongo-restart", restart_mongo, services=("mongo",)),
    Scenario("provider-429-5xx-hang", provider_faults, at=0.1),
    Scenario(
        "engine-outage-20s", engine_outage, dead_letter_reasons=frozenset({"engine_unavailable"})
    ),
    # 200 turns over 20 conversations in 200 s (with the defaults), the throttle from 10 s to
    # 190 s: turns keep arriving all through it, ten per conversation behind its first.
    Scenario(
        "provider-throttle",
        provider_throttle,
        at=0.05,
        messages=0.4,
        conversations=0.4,
        load_seconds=200.0,
        bounded_executions=True,
    ),
    Scenario(
        "callbacks-race",
        None,
        messages=0.3,
        reply_parts=3,
        status_callbacks=True,
    ),
    Scenario("mongo-stall", mongo_stall, messages=0.5, services=("mongo",)),
)
