"""Identifiers that sort by creation time, so `_id` order is arrival order."""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id(prefix: str) -> str:
    """A new id: 48-bit milliseconds, a per-process counter, then randomness, in hex.

    Ids made by one process are strictly increasing; ids made by different processes in the
    same millisecond are ordered at random, which is fine for arrival order across requests.
    """
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            _counter += 1
            now_ms = _last_ms
        else:
            _counter = 0
            _last_ms = now_ms
        counter = _counter
    return f"{prefix}_{now_ms:012x}{counter:04x}{os.urandom(8).hex()}"
