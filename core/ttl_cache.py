"""An in-process cache whose entries expire: records that change rarely (a tenant's state, a
channel config, a provider's access token, a Security Hub answer) are read once per process per
ttl instead of once per request, and a change is still seen within the ttl, without restarts.

Thread-safe and bounded: when it is full, the least recently used entry goes and the rest stay
(``cachetools.TLRUCache``, which, unlike ``TTLCache``, lets each entry carry its own ttl)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TLRUCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _expiry(_key: object, entry: tuple[float, object], now: float) -> float:
    return now + entry[0]


class TtlCache(Generic[K, V]):
    def __init__(
        self,
        ttl_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        # Each entry is (its ttl, the value): the ttl is read once, when the entry goes in.
        self._entries: TLRUCache[K, tuple[float, V]] = TLRUCache(
            maxsize=max(max_entries, 1), ttu=_expiry, timer=clock
        )
        self._lock = threading.Lock()  # cachetools caches are not thread-safe on their own

    def peek(self, key: K) -> V | None:
        """The live cached value, or None."""
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        """The cached value, or ``load()``'s kept for the cache's ttl."""
        return self.get_or_load_timed(key, lambda: (load(), self._ttl))

    def get_or_load_timed(self, key: K, load: Callable[[], tuple[V, float]]) -> V:
        """The cached value, or ``load()`` → (value, ttl seconds) kept for that ttl.

        ``load`` runs outside the lock: two threads may both load on a miss, and the later value
        wins. An exception from it reaches the caller and caches nothing, so a record that is
        missing now is looked up again next time. A cached None counts as a hit."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None:
            return entry[1]
        value, ttl = load()
        self.put(key, value, ttl)
        return value

    def put(self, key: K, value: V, ttl_seconds: float | None = None) -> None:
        ttl = self._ttl if ttl_seconds is None else ttl_seconds
        if ttl <= 0 or self._max <= 0:
            return
        with self._lock:
            self._entries[key] = (ttl, value)

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)
