"""An in-process cache whose entries expire: records that change rarely (a tenant's state, a
channel config, a provider's access token) are read once per process per ttl instead of once per
request, and a change is still seen within the ttl, without restarts. Thread-safe and bounded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(
        self,
        ttl_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._max = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def peek(self, key: K) -> V | None:
        """The live cached value, or None."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        """The cached value, or ``load()``'s kept for the cache's ttl."""
        return self.get_or_load_timed(key, lambda: (load(), self._ttl))

    def get_or_load_timed(self, key: K, load: Callable[[], tuple[V, float]]) -> V:
        """The cached value, or ``load()`` → (value, ttl seconds) kept for that ttl.

        ``load`` runs outside the lock: two threads may both load on a miss, and the later value
        wins. An exception from it reaches the caller and caches nothing, so a record that is
        missing now is looked up again next time."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        value, ttl = load()
        self.put(key, value, ttl)
        return value

    def put(self, key: K, value: V, ttl_seconds: float | None = None) -> None:
        ttl = self._ttl if ttl_seconds is None else ttl_seconds
        if ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self._max and key not in self._entries:
                self._entries.clear()  # a crude bound; entries live seconds to minutes anyway
            self._entries[key] = (self._clock() + ttl, value)

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)
