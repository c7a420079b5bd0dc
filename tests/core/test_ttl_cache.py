"""The in-process cache every ttl-bound read goes through (no services needed)."""

from __future__ import annotations

import pytest

from core.ttl_cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_loaded_once_per_ttl() -> None:
    clock, loads = Clock(), []
    cache: TtlCache[str, int] = TtlCache(5, clock)

    def load() -> int:
        loads.append(clock.now)
        return len(loads)

    assert [cache.get_or_load("k", load) for _ in range(3)] == [1, 1, 1]
    clock.now += 4.9
    assert cache.get_or_load("k", load) == 1
    clock.now += 0.1
    assert cache.get_or_load("k", load) == 2
    assert loads == [100.0, 105.0]


def test_a_failed_load_caches_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(60, Clock())

    def missing() -> int:
        raise LookupError("no such record")

    with pytest.raises(LookupError):
        cache.get_or_load("k", missing)
    assert cache.peek("k") is None
    assert cache.get_or_load("k", lambda: 7) == 7


def test_the_loader_can_name_each_values_lifetime() -> None:
    clock = Clock()
    cache: TtlCache[str, str] = TtlCache(clock=clock)
    assert cache.get_or_load_timed("token", lambda: ("first", 30)) == "first"
    clock.now += 29
    assert cache.get_or_load_timed("token", lambda: ("second", 30)) == "first"
    clock.now += 1
    assert cache.get_or_load_timed("token", lambda: ("second", 30)) == "second"
    cache.forget("token")
    assert cache.peek("token") is None


def test_a_zero_ttl_keeps_nothing() -> None:
    clock = Clock()
    assert TtlCache[str, int](0, clock).get_or_load("k", lambda: 1) == 1
    off: TtlCache[str, int] = TtlCache(0, clock)
    off.put("k", 1)
    assert off.peek("k") is None
    none: TtlCache[str, int] = TtlCache(60, clock, max_entries=0)
    none.put("k", 1)
    assert none.peek("k") is None


def test_a_full_cache_lets_the_oldest_entry_go_and_keeps_the_rest() -> None:
    small: TtlCache[int, int] = TtlCache(60, Clock(), max_entries=3)
    for key in range(3):
        small.put(key, key)
    small.put(0, 10)  # replacing a key does not count against the bound, and renews it

    small.put(3, 3)  # a fourth key: 1 is now the oldest

    assert [small.peek(key) for key in range(4)] == [10, None, 2, 3]


def test_a_read_keeps_an_entry_from_being_the_oldest() -> None:
    small: TtlCache[str, int] = TtlCache(60, Clock(), max_entries=2)
    small.put("a", 1)
    small.put("b", 2)
    assert small.get_or_load("a", lambda: 0) == 1  # "a" is now the most recently used

    small.put("c", 3)

    assert [small.peek(key) for key in "abc"] == [1, None, 3]


def test_a_cached_none_is_a_hit() -> None:
    cache: TtlCache[str, int | None] = TtlCache(60, Clock())
    assert cache.get_or_load("k", lambda: None) is None
    assert cache.get_or_load("k", lambda: 1) is None
