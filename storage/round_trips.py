"""Round trips to MongoDB and Redis, counted per scope: what each stage of a turn costs the stores.

Every client Parley builds reports here (``storage.mongo.connect`` registers the command
listener, ``counted_redis`` the connection class). ``counting()`` opens a scope on the current
thread or asyncio task; each command sent inside it, by this thread or by a worker thread it
hands work to with its context (Starlette's thread pool copies it), counts once in that scope
and in every scope around it. Outside a scope nothing is counted and a command costs one
context-variable lookup.

A Redis round trip is one write of commands to the socket: a pipeline or a Lua script is one,
however many keys it touches. A MongoDB round trip is one command (``find``, ``update``,
``insert``, ``getMore``…), which is what the server answers one at a time.

The stage tasks count every run (tasks/base.py) and the workers export the figures
(``parley_stage_round_trips``, docs/metrics.md); ``tests/e2e/test_round_trip_budget.py`` holds a
whole turn to the budget written in ``BUDGET`` below.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pymongo import monitoring
from redis import Redis
from redis.connection import AbstractConnection

# The most round trips one follow-up turn (accept, process, generate, deliver and audit of a
# text message answered with one text reply) may cost; the budget test fails past it. Lower it
# when a change saves one; raising it needs a reason in bench/HISTORY.md. Issue 16's goal for
# MongoDB is 12: bench/HISTORY.md ("Round trips per turn") lists where the rest go.
BUDGET = {"mongo": 26, "redis": 19}
# Reads a process makes at most once per tenant a ``PARLEY_TENANT_CACHE_SECONDS`` (the tenant's
# record), whatever the traffic: not a turn's cost, so outside the budget, and at most one of
# each in a stage run.
REFRESHES = frozenset({"find tenants"})


@dataclass
class Tally:
    """The round trips of one scope, and what each was (``"find messages"``, ``"EVALSHA"``)."""

    mongo: int = 0
    redis: int = 0
    mongo_commands: list[str] = field(default_factory=list)
    redis_commands: list[str] = field(default_factory=list)


_scopes: ContextVar[tuple[Tally, ...]] = ContextVar("parley_round_trip_scopes", default=())


@contextmanager
def counting() -> Iterator[Tally]:
    """Count the round trips made inside the ``with`` block (and the scopes it opens)."""
    tally = Tally()
    token = _scopes.set((*_scopes.get(), tally))
    try:
        yield tally
    finally:
        _scopes.reset(token)


class _MongoCommands(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        scopes = _scopes.get()
        if not scopes:
            return
        target = event.command.get(event.command_name)
        name = f"{event.command_name} {target}" if isinstance(target, str) else event.command_name
        for tally in scopes:
            tally.mongo += 1
            tally.mongo_commands.append(name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


MONGO_LISTENER = _MongoCommands()


def _first_command(packed: Any) -> str:
    """The name of the first command in a packed RESP write (``*N\\r\\n$len\\r\\nNAME…``)."""
    chunk = packed if isinstance(packed, bytes | bytearray | memoryview) else packed[0]
    parts = bytes(chunk[:64]).split(b"\r\n")
    return parts[2].decode("ascii", "replace").upper() if len(parts) > 2 else "?"


class _CountedConnection:
    """Mixed into a pool's connection class: each write to the socket counts one round trip,
    except a new connection's handshake (``HELLO``, ``CLIENT SETINFO``, ``SELECT``): pooled
    connections are made once, not per turn, and when a pool grows depends on other threads."""

    _handshaking = False

    def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        self._handshaking = True  # what connecting sends (redis-py's connect() comes here)
        try:
            super().connect_check_health(*args, **kwargs)  # type: ignore[misc]
        finally:
            self._handshaking = False

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        scopes = _scopes.get()
        if scopes and not self._handshaking:
            name = _first_command(command)
            for tally in scopes:
                tally.redis += 1
                tally.redis_commands.append(name)
        super().send_packed_command(command, check_health)  # type: ignore[misc]


_counted_classes: dict[type, type] = {}


def counted_redis(client: Redis) -> Redis:
    """``client``, its round trips counted from now on (whatever its connection class)."""
    pool = client.connection_pool
    base: type[AbstractConnection] = pool.connection_class
    if not issubclass(base, _CountedConnection):
        counted = _counted_classes.get(base)
        if counted is None:
            counted = type(f"Counted{base.__name__}", (_CountedConnection, base), {})
            _counted_classes[base] = counted
        pool.connection_class = counted
    return client
